"""The tyntec client behind a proxy named in the environment (HTTPS_PROXY, HTTP_PROXY,
NO_PROXY): a real forward proxy on 127.0.0.1 in front of the sandbox."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from botkit.tyntec import TyntecClient, messages
from botkit.tyntec._proxy import environment_proxy, shown

USER, BOT = "+491701234567", "4930123456"
HOP_BY_HOP = {"host", "connection", "proxy-connection", "keep-alive", "transfer-encoding"}


@dataclass
class ForwardProxy:
    url: str
    targets: list[str] = field(default_factory=list)  # the absolute URLs asked for


@pytest.fixture
async def forward_proxy(sandbox_url: str) -> AsyncIterator[ForwardProxy]:
    """An HTTP forward proxy that takes any absolute URL and asks the sandbox for its path:
    ``tyntec.test`` resolves nowhere, so a call that reaches the sandbox came through here."""
    session = aiohttp.ClientSession()

    async def forward(request: web.BaseRequest) -> web.Response:
        proxy.targets.append(str(request.url))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        async with session.request(
            request.method, sandbox_url + str(request.rel_url), headers=headers,
            data=await request.read(),
        ) as answer:  # fmt: skip
            return web.Response(
                status=answer.status, body=await answer.read(),
                headers={"Content-Type": answer.headers.get("Content-Type", "text/plain")},
            )  # fmt: skip

    runner = web.ServerRunner(web.Server(forward))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    proxy = ForwardProxy(f"http://127.0.0.1:{port}")
    yield proxy
    await runner.cleanup()
    await session.close()


@pytest.fixture
def no_proxy_settings(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The environment without the machine's own proxy settings."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


async def test_calls_go_through_the_proxy_the_environment_names(
    forward_proxy: ForwardProxy, sandbox_url: str, no_proxy_settings: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    no_proxy_settings.setenv("HTTP_PROXY", forward_proxy.url)
    port = sandbox_url.rsplit(":", 1)[1]
    caplog.set_level(logging.INFO, "botkit.tyntec")
    async with TyntecClient(api_key="sandbox", base_url=f"http://tyntec.test:{port}") as api:
        # Checked before any call: one that went direct would look tyntec.test up.
        assert api.proxy == forward_proxy.url
        accepted = await api.chat.send(messages.text(USER, "through the proxy", from_=BOT))
        assert (await api.chat.get_message(accepted.message_id)).to == USER
    assert forward_proxy.targets == [
        f"http://tyntec.test:{port}/chat-api/v2/messages",
        f"http://tyntec.test:{port}/chat-api/v2/messages/{accepted.message_id}",
    ]
    assert f"through the proxy {forward_proxy.url}" in caplog.text


async def test_the_sandbox_on_loopback_is_reached_directly_whatever_the_proxy(
    forward_proxy: ForwardProxy, sandbox_url: str, no_proxy_settings: pytest.MonkeyPatch
) -> None:
    no_proxy_settings.setenv("HTTP_PROXY", forward_proxy.url)
    async with TyntecClient(api_key="sandbox", base_url=sandbox_url) as api:
        assert api.proxy is None
        await api.chat.send(messages.text(USER, "direct", from_=BOT))
    assert forward_proxy.targets == []


def test_which_proxy_the_environment_names(no_proxy_settings: pytest.MonkeyPatch) -> None:
    assert environment_proxy("https://api.tyntec.com") is None  # none named
    no_proxy_settings.setenv("HTTPS_PROXY", "http://ops:secret@proxy.internal:3128")
    no_proxy_settings.setenv("NO_PROXY", "tyntec.internal")
    assert environment_proxy("https://api.tyntec.com") == "http://ops:secret@proxy.internal:3128"
    assert environment_proxy("http://api.tyntec.com") is None  # HTTPS_PROXY is for https only
    assert environment_proxy("https://eu.tyntec.internal") is None  # NO_PROXY names it
    for local in ("http://127.0.0.1:8081", "http://localhost:8081", "http://[::1]:8081"):
        assert environment_proxy(local.replace("http", "https")) is None
    assert shown("http://ops:secret@proxy.internal:3128") == "http://ops:***@proxy.internal:3128"
    assert shown("http://proxy.internal:3128") == "http://proxy.internal:3128"
