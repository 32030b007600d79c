"""RFC 7807 answers of the server's endpoints."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

__all__ = ["problem"]


def problem(status: int, title: str, detail: str, **extra: Any) -> web.Response:
    """An ``application/problem+json`` answer."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/problem+json"
    )
