"""Shared fixtures: a real sandbox on 127.0.0.1, a webhook that records what it receives,
and a TyntecClient pointed at the sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from botkit.sandbox import Notifier, Sandbox
from botkit.testing import WebhookRecorder
from botkit.tyntec import RetryPolicy, TyntecClient

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
