"""The sender on uvloop, the event loop `botkit serve` runs on when it is installed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from botkit.flow import Conversation
from botkit.sandbox import DEFAULT_API_KEY, Fault, Sandbox
from botkit.server.ledger import StoreLedger
from botkit.server.metrics import Metrics
from botkit.server.sender import Sender
from botkit.store import NewEvent, OutboxMessage, SQLiteStore
from botkit.tyntec import RetryPolicy, TyntecClient

from .server_helpers import eventually, refusing


def test_messages_due_within_a_millisecond_go_out_on_uvloop(tmp_path: Path) -> None:
    # uvloop answers call_later under a millisecond with a plain Handle (no when()); the
    # sender once asked every pending wake-up for when(), failed, and left a message
    # waiting until the next restart.
    uvloop = pytest.importorskip("uvloop")

    async def main() -> None:
        sandbox = Sandbox()
        runner = web.AppRunner(sandbox.app())
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        store = SQLiteStore(tmp_path / "bot.db")
        await store.open()
        try:
            async with TyntecClient(DEFAULT_API_KEY, base_url=url) as api:
                sender = Sender(api, StoreLedger(store, Metrics()))
                due = time.time() + 0.0005
                sender.submit([_message(1, "491701111111", due), _message(2, "491702222222", due)])
                await eventually(lambda: len(sandbox.chat.messages) == 2, timeout=3)
                await sender.close(1)
        finally:
            await store.close()
            await runner.cleanup()

    uvloop.run(main())


def _message(number: int, user: str, due: float) -> OutboxMessage:
    request = {
        "to": user,
        "channels": ["whatsapp"],
        "whatsapp": {"contentType": "text", "text": f"m{number}", "from": "4930123456"},
    }
    return OutboxMessage(number, "support", user, request, "pending", 0, due, None, due)


async def test_a_retry_the_store_cannot_record_is_still_tried(
    aiohttp_server: Any, tmp_path: Path
) -> None:
    sandbox = Sandbox()
    sandbox.faults.add(Fault("/chat-api/v2/messages", status=503))
    url = str((await aiohttp_server(sandbox.app())).make_url("")).rstrip("/")
    store = SQLiteStore(tmp_path / "bot.db")
    await store.open()
    try:
        (event,) = await store.accept([NewEvent("mo:1", "message", {}, "support", "4917")], now=1)
        assert event is not None
        request = _message(1, "4917", 0).request
        started = Conversation("support", "4917", state="welcome", version=1)
        queued = await store.finish_turn(event.id, started, [request], now=time.time())

        retry = RetryPolicy(attempts=1)
        async with TyntecClient(DEFAULT_API_KEY, base_url=url, retry=retry) as api:
            sender = Sender(api, StoreLedger(store, Metrics()), base_delay=0.3, jitter=lambda: 1)
            with refusing(tmp_path / "bot.db", "UPDATE ON outbox"):  # recording the retry
                sender.submit(queued)
                await eventually(lambda: sandbox.faults.triggered == 1)
            # Tried again all the same, without another message or a restart to wake it.
            await eventually(lambda: len(sandbox.chat.messages) == 1, timeout=5)
            await sender.close(1)
    finally:
        await store.close()
