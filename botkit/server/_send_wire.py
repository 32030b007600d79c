"""The lines the server and its sending process exchange over the child's stdin and stdout:
one compact JSON object per line.

To the child: a message to send (``id``, ``flow``, ``user``, ``request``, ``attempts``,
``at``), or ``{"flush": seconds}``. Back: ``{"sent": id, "messageId": ...}``,
``{"retry": id, "error": ..., "at": ...}``, ``{"failed": id, "error": ...}``, or
``{"flushed": true}`` once a flush is over.
"""

from __future__ import annotations

from typing import Any

from .._json import dumps, loads
from ..store import OutboxMessage

__all__ = ["LINE_LIMIT", "decode", "encode", "message_from_wire", "message_to_wire"]

#: The longest line either side accepts (a message request is a few kB at most).
LINE_LIMIT = 16 * 1024 * 1024


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
