"""The sandbox's own endpoints under ``/sandbox``: play the user, read OTP codes, inspect
what the bot sent, report later delivery states, inject faults, move the clock.

They are not part of tyntec's API; they exist so that people, ``botkit chat`` and tests can
drive the sandbox over HTTP.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ._faults import Fault
from ._problems import problem

if TYPE_CHECKING:
    from .app import Sandbox

__all__ = ["control_routes"]

_LATER_STATES = {"delivered", "seen", "failed", "unknown", "deleted"}


def control_routes(sandbox: Sandbox) -> list[web.RouteDef]:
    """The ``/sandbox`` routes of one sandbox."""

    async def index(request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {
                "sandbox": "botkit embedded tyntec sandbox",
                "webhook": sandbox.chat.webhook_url,
                "sentMessages": len(sandbox.chat.messages),
                "otps": len(sandbox.twofa.otps),
                "endpoints": [
                    "POST /sandbox/inbound  {from, to?, channel?, text | url | media | location}",
                    "GET  /sandbox/otps?number=",
                    "GET  /sandbox/messages?to=",
                    "POST /sandbox/messages/{messageId}/status  {status}",
                    "POST /sandbox/undeliverable  {to, channel}",
                    "POST /sandbox/faults  {path, status, count, method?, delay?, retryAfter?}",
                    "DELETE /sandbox/faults",
                    "POST /sandbox/clock  {advance}",
                ],
            }
        )

    async def inbound(request: web.Request) -> web.StreamResponse:
        body = await _object(request)
        if isinstance(body, web.Response):
            return body
        try:
            delivery = await sandbox.user_says(**_inbound_arguments(body))
        except (TypeError, ValueError) as exc:
            return problem(400, "Bad Request", str(exc))
        return web.json_response(
            {
                "messageId": delivery.payload.get("messageId") or delivery.payload.get("requestId"),
                "webhookStatus": delivery.status,
                "error": delivery.error,
            }
        )

    async def otps(request: web.Request) -> web.StreamResponse:
        number = request.query.get("number")
        listed = [
            {"otpId": o.otp_id, "number": o.number, "code": o.code, "status": o.status}
            for o in sandbox.twofa.otps.values()
            if number is None or o.number == number
        ]
        return web.json_response(listed)

    async def messages(request: web.Request) -> web.StreamResponse:
        to = request.query.get("to")
        listed = [
            {
                "messageId": m.message_id,
                **m.request,
                "acceptedAt": m.accepted_at,
                "status": (m.last_status or {}).get("status", "accepted"),
            }
            for m in sandbox.chat.messages.values()
            if to is None or m.to == to
        ]
        return web.json_response(listed)

    async def message_status(request: web.Request) -> web.StreamResponse:
        message = sandbox.chat.messages.get(request.match_info["message_id"])
        if message is None:
            return problem(404, "Not Found", "no message with this id was sent")
        body = await _object(request)
        if isinstance(body, web.Response):
            return body
        status = body.get("status")
        if not isinstance(status, str) or status not in _LATER_STATES:
            return problem(400, "Bad Request", f"status must be one of {sorted(_LATER_STATES)}")
        await sandbox.chat.report_status(message, str(status))
        return web.json_response(message.last_status)

    async def undeliverable(request: web.Request) -> web.StreamResponse:
        body = await _object(request)
        if isinstance(body, web.Response):
            return body
        to, channel = body.get("to"), body.get("channel", "whatsapp")
        if not isinstance(to, str) or channel not in ("whatsapp", "sms", "tyntecEcho"):
            return problem(400, "Bad Request", "give to (a number) and channel")
        sandbox.chat.make_undeliverable(to, channel)
        return web.json_response({"to": to, "channel": channel})

    async def add_fault(request: web.Request) -> web.StreamResponse:
        body = await _object(request)
        if isinstance(body, web.Response):
            return body
        try:
            fault = Fault(
                path=str(body["path"]),
                status=int(body.get("status", 503)),
                count=int(body.get("count", 1)),
                method=body.get("method"),
                delay=float(body.get("delay", 0)),
                retry_after=(
                    float(body["retryAfter"]) if body.get("retryAfter") is not None else None
                ),
            )
            sandbox.faults.add(fault)
        except (KeyError, TypeError, ValueError) as exc:
            return problem(400, "Bad Request", f"invalid fault: {exc}")
        return web.json_response({"pending": len(sandbox.faults.pending())}, status=201)

    async def clear_faults(request: web.Request) -> web.StreamResponse:
        sandbox.faults.clear()
        return web.Response(status=204)

    async def clock(request: web.Request) -> web.StreamResponse:
        body = await _object(request)
        if isinstance(body, web.Response):
            return body
        try:
            sandbox.clock.advance(float(body.get("advance", 0)))
        except (TypeError, ValueError) as exc:
            return problem(400, "Bad Request", str(exc))
        return web.json_response({"now": sandbox.clock.now()})

    return [
        web.get("/sandbox", index),
        web.post("/sandbox/inbound", inbound),
        web.get("/sandbox/otps", otps),
        web.get("/sandbox/messages", messages),
        web.post("/sandbox/messages/{message_id}/status", message_status),
        web.post("/sandbox/undeliverable", undeliverable),
        web.post("/sandbox/faults", add_fault),
        web.delete("/sandbox/faults", clear_faults),
        web.post("/sandbox/clock", clock),
    ]


def _inbound_arguments(body: dict[str, Any]) -> dict[str, Any]:
    allowed = {"from", "to", "channel", "text", "url", "media", "location", "name", "api"}
    unknown = set(body) - allowed
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
    arguments = {k: v for k, v in body.items() if k != "from"}
    if "from" not in body:
        raise ValueError("from (the user's number) is required")
    arguments["sender"] = body["from"]
    return arguments


async def _object(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        body = await request.json(loads=json.loads) if request.can_read_body else {}
    except ValueError as exc:
        return problem(400, "Data given was not parseable", str(exc))
    if not isinstance(body, dict):
        return problem(400, "Bad Request", "the body must be a JSON object")
    return body
