"""RFC 7807 answers of the server's endpoints."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from aiohttp import web

__all__ = ["Reply", "as_response", "problem", "problem_reply"]


class Reply(NamedTuple):
    """An answer as whatever serves it writes it: a status, a body and its type."""

    status: int
    body: bytes
    content_type: str = "application/json"


def problem_reply(status: int, title: str, detail: str, **extra: Any) -> Reply:
    """An ``application/problem+json`` answer."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return Reply(status, json.dumps(body).encode(), "application/problem+json")


def problem(status: int, title: str, detail: str, **extra: Any) -> web.Response:
    """An ``application/problem+json`` answer, as aiohttp's response."""
    return as_response(problem_reply(status, title, detail, **extra))


def as_response(reply: Reply) -> web.Response:
    """``reply`` as aiohttp's response, for the app's own routes."""
    return web.Response(status=reply.status, body=reply.body, content_type=reply.content_type)
