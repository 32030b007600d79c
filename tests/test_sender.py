"""The sender on uvloop, the event loop `botkit serve` runs on when it is installed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from aiohttp import web

from botkit.sandbox import DEFAULT_API_KEY, Sandbox
from botkit.server.ledger import StoreLedger
from botkit.server.metrics import Metrics
from botkit.server.sender import Sender
from botkit.store import OutboxMessage, SQLiteStore
from botkit.tyntec import TyntecClient

from .server_helpers import eventually


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
