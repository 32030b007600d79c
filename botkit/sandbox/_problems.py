"""Error answers the way tyntec gives them: problem+json for Chat, Messaging and NIS,
``{code, id, message, timestamp}`` for 2FA."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from aiohttp import web

__all__ = ["Violation", "constraint_violation", "problem", "twofa_error"]

Violation = dict[str, str]

_PROBLEM_TYPES = {
    400: "https://docs.tyntec.com/problems/DataNotParseable",
    401: "https://httpstatuses.com/401",
    403: "https://httpstatuses.com/403",
    404: "https://httpstatuses.com/404",
    405: "https://httpstatuses.com/405",
    413: "https://httpstatuses.com/413",
    429: "https://httpstatuses.com/429",
}


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> web.Response:
    """An RFC 7807 answer."""
    body: dict[str, Any] = {
        "type": _PROBLEM_TYPES.get(status, "about:blank"),
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    body.update(extra)
    return web.Response(
        status=status,
        text=json.dumps(body),
        content_type="application/problem+json",
        headers=headers,
    )


def constraint_violation(violations: list[Violation]) -> web.Response:
    """400 naming each bad field, as tyntec's ``Constraint Violation`` answers do."""
    return web.Response(
        status=400,
        text=json.dumps(
            {
                "type": "https://docs.tyntec.com/problems/ConstraintViolation",
                "status": 400,
                "title": "Constraint Violation",
                "violations": violations,
            }
        ),
        content_type="application/problem+json",
    )


def twofa_error(status: int, code: str, message: str) -> web.Response:
    """A 2FA API error answer."""
    body = {
        "code": code,
        "id": str(uuid.uuid4()),
        "message": message,
        "timestamp": int(time.time() * 1000),
    }
    return web.json_response(body, status=status)
