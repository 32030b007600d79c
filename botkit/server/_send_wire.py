"""The lines the server and its sending process exchange over the child's stdin and stdout:
one compact JSON object per line.

To the child: a message to send (``id``, ``flow``, ``user``, ``request``, ``attempts``,
``at``), or ``{"flush": seconds}``. Back: ``{"sent": id, "messageId": ...}``,
``{"retry": id, "error": ..., "at": ...}``, ``{"failed": id, "error": ...}``, or
``{"flushed": true}`` once a flush is over.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .._json import dumps, loads
from ..store import OutboxMessage

__all__ = ["LINE_LIMIT", "Lines", "decode", "encode", "message_from_wire", "message_to_wire"]

#: The longest line either side accepts (a message request is a few kB at most).
LINE_LIMIT = 16 * 1024 * 1024


#: Unwritten bytes above which a writer waits for the other side to read.
BACKLOG_LIMIT = 256 * 1024


class Lines:
    """Lines for a pipe, written together once per turn of the event loop: under load one
    write (a system call) carries many lines."""

    def __init__(self, out: asyncio.StreamWriter | None) -> None:
        self.out = out
        self._lines: list[bytes] = []
        self._scheduled = False

    def add(self, entry: dict[str, Any]) -> None:
        self._lines.append(encode(entry))
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._scheduled = False
        if self._lines and self.out is not None and not self.out.is_closing():
            self.out.write(b"".join(self._lines))
        self._lines.clear()

    async def drain_if_behind(self) -> None:
        """Wait for the reader when much is written and unread (it is behind)."""
        out = self.out
        if out is None or out.is_closing():
            return
        if out.transport.get_write_buffer_size() > BACKLOG_LIMIT:
            self.flush()
            await out.drain()


def encode(entry: dict[str, Any]) -> bytes:
    return dumps(entry).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    entry = loads(line)
    if not isinstance(entry, dict):
        raise ValueError(f"not a JSON object: {line[:200]!r}")
    return entry


def message_to_wire(message: OutboxMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "flow": message.flow,
        "user": message.user,
        "request": message.request,
        "attempts": message.attempts,
        "at": message.next_attempt_at,
    }


def message_from_wire(entry: dict[str, Any]) -> OutboxMessage:
    return OutboxMessage(
        id=int(entry["id"]),
        flow=str(entry["flow"]),
        user=str(entry["user"]),
        request=entry["request"],
        status="pending",
        attempts=int(entry["attempts"]),
        next_attempt_at=float(entry["at"]),
        message_id=None,
        created_at=0.0,
    )
