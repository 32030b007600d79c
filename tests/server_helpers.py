"""Helpers for the server tests: a bot served in-process against an in-process sandbox."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from botkit.sandbox import Sandbox
from botkit.server import BotServer
from botkit.store import SQLiteStore

ROOT = Path(__file__).resolve().parents[1]
USER = "491701234567"
BOT = "4930123456"


async def serve_on_sandbox(
    flow: str, db: Path, port: int, sandbox_port: int, *options: str,
    before: tuple[str, ...] = (), stdout: int = asyncio.subprocess.DEVNULL,
    stderr: int = asyncio.subprocess.PIPE,
) -> asyncio.subprocess.Process:  # fmt: skip
    """``botkit [BEFORE] serve FLOW --sandbox [OPTIONS]`` in a process of its own, as a user
    runs it from the checkout."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "botkit", *before, "serve", flow, "--sandbox",
        "--port", str(port), "--sandbox-port", str(sandbox_port), "--db", str(db), *options,
        cwd=ROOT, stdout=stdout, stderr=stderr,
    )  # fmt: skip


async def eventually(
    check: Callable[[], Any] | Callable[[], Awaitable[Any]], timeout: float = 10.0
) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.02)


async def serving(session: aiohttp.ClientSession, url: str) -> bool:
    """True once the bot at ``url`` answers its health check (for :func:`eventually`)."""
    try:
        async with session.get(f"{url}/healthz") as response:
            return response.status == 200
    except aiohttp.ClientConnectionError:
        return False


def texts_to(sandbox: Sandbox, user: str = USER) -> list[str]:
    """What the bot sent the user, in the order the sandbox accepted it."""
    found = []
    for message in sandbox.chat.messages.values():
        if message.to.lstrip("+") != user:
            continue
        part = message.part(message.channels[0])
        if part.get("contentType") == "template":
            found.append(f"template:{part['template']['templateId']}")
        else:
            found.append(str(part.get("text") or part.get("url")))
    return found


def mo_message(
    text: str, *, user: str = USER, message_id: str | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "event": "MoMessage",
        "messageId": message_id or str(uuid.uuid4()),
        "channel": "whatsapp",
        "from": user,
        "to": BOT,
        "content": {"contentType": "text", "text": text},
        **extra,
    }


@dataclass
class ServedBot:
    server: BotServer
    store: SQLiteStore
    url: str
    session: aiohttp.ClientSession
    runner: web.AppRunner | None = None  # its cleanup stops the bot

    async def post(self, payload: Any, path: str = "/webhook", **kwargs: Any) -> tuple[int, Any]:
        async with self.session.post(self.url + path, json=payload, **kwargs) as response:
            return response.status, await response.json(content_type=None)


@contextlib.contextmanager
def refusing(db: Path, change: str) -> Iterator[None]:
    """The database refuses ``change`` (``"UPDATE ON outbox"``) inside the block, as a full
    disk would: a trigger that aborts it, dropped on the way out."""

    def run(statement: str) -> None:
        with contextlib.closing(sqlite3.connect(db)) as connection:
            connection.execute(statement)

    run(f"CREATE TRIGGER refuse BEFORE {change} BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    try:
        yield
    finally:
        run("DROP TRIGGER refuse")
