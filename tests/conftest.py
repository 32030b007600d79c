"""Shared fixtures: a real sandbox on 127.0.0.1, a webhook that records what it receives,
and a TyntecClient pointed at the sandbox."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from botkit.flow import load_flow
from botkit.sandbox import Notifier, Sandbox
from botkit.server import BotServer, Sending
from botkit.server.site import BotSite
from botkit.store import SQLiteStore
from botkit.testing import WebhookRecorder
from botkit.tyntec import RetryPolicy, TyntecClient

from .server_helpers import ROOT, ServedBot

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"

ServerFactory = Callable[..., Awaitable[TestServer]]


@pytest.fixture
async def webhook(aiohttp_server: ServerFactory) -> WebhookRecorder:
    recorder = WebhookRecorder()
    server = await aiohttp_server(recorder.app())
    recorder.url = str(server.make_url("/webhook"))
    return recorder


@pytest.fixture
async def sandbox_server(
    aiohttp_server: ServerFactory, webhook: WebhookRecorder
) -> tuple[Sandbox, str]:
    sandbox = Sandbox(
        webhook_url=webhook.url,
        sms_webhook_url=webhook.url.replace("/webhook", "/sms"),
        notifier=Notifier(retry_delay=0.01),
    )
    server = await aiohttp_server(sandbox.app())
    return sandbox, str(server.make_url("")).rstrip("/")


@pytest.fixture
def sandbox(sandbox_server: tuple[Sandbox, str]) -> Sandbox:
    return sandbox_server[0]


@pytest.fixture
def sandbox_url(sandbox_server: tuple[Sandbox, str]) -> str:
    return sandbox_server[1]


# Fast, deterministic retries: the longest wait is the cap, never a random fraction of it.
FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, jitter=lambda: 1.0)


@pytest.fixture
async def api(sandbox_url: str) -> AsyncIterator[TyntecClient]:
    async with TyntecClient(api_key="sandbox", base_url=sandbox_url, retry=FAST_RETRY) as client:
        yield client


BOT_TOKEN = "webhook-s3cret"


@pytest.fixture
async def bot_sandbox(aiohttp_server: Any) -> tuple[Sandbox, str]:
    """The sandbox the server tests run their bot against (tyntec's side)."""
    stand_in = Sandbox(notifier=Notifier(retry_delay=0.01))
    server = await aiohttp_server(stand_in.app())
    return stand_in, str(server.make_url("")).rstrip("/")


@pytest.fixture
async def start_bot(
    bot_sandbox: tuple[Sandbox, str], tmp_path: Path
) -> AsyncIterator[Callable[..., Any]]:
    """Start a BotServer on 127.0.0.1 against ``bot_sandbox``, with a real SQLite file,
    served as ``botkit serve`` serves it: the webhooks on botkit's front (BotSite)."""
    stand_in, sandbox_url = bot_sandbox
    sessions: list[aiohttp.ClientSession] = []
    runners: list[web.AppRunner] = []

    async def start(
        *flows: Path, token: str | None = BOT_TOKEN, clock: Callable[[], float] = time.time,
        db: Path | None = None, max_body: int = 1024 * 1024, watch: list[Path] | None = None,
        api_token: str | None = None, sending: Sending = "inline",
        keepalive_timeout: float = 75.0,
    ) -> ServedBot:  # fmt: skip
        store = SQLiteStore(db or tmp_path / "bot.db")
        api = TyntecClient("sandbox", base_url=sandbox_url, retry=RetryPolicy(attempts=1))
        server = BotServer(
            [load_flow(f) for f in flows or [ROOT / "flows" / "support.yaml"]],
            store, api, webhook_token=token, clock=clock, send_retry_delay=0.05,
            max_body=max_body, watch=watch, api_token=api_token, sending=sending,
        )  # fmt: skip
        runner = web.AppRunner(server.app(), access_log=None)
        await runner.setup()
        runners.append(runner)
        site = BotSite(runner, server, "127.0.0.1", 0, keepalive_timeout=keepalive_timeout)
        await site.start()
        url = f"http://127.0.0.1:{site.port}"
        stand_in.webhook_url = f"{url}/webhook?token={token}" if token else f"{url}/webhook"
        stand_in.sms_webhook_url = stand_in.webhook_url.replace("/webhook", "/webhook/sms")
        session = aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {token}"} if token else {}
        )
        sessions.append(session)
        return ServedBot(server, store, url, session, runner)

    yield start
    for session in sessions:
        await session.close()
    for runner in runners:
        if runner.server is not None:  # not stopped by the test
            await runner.cleanup()
