"""The operator API: ``POST /conversations`` starts a flow for a user from outside (reminders,
notifications). It goes through the inbox like any event, so it keeps the conversation's
order, and waits for the turn to answer with what was sent, or why nothing was."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import uuid
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .._numbers import digits, is_phone_number
from ..store import InboxEvent, NewEvent, UnstorableEvent
from ._problems import problem

if TYPE_CHECKING:
    from .app import BotServer

__all__ = ["start_conversation"]

log = logging.getLogger("botkit.server")

WAIT_FOR_TURN = 10.0
#: How often one request id may be refused; the next try is refused at once (409).
MAX_TRIES_PER_REQUEST = 100


def operator_refusal(server: BotServer, request: web.Request) -> web.Response | None:
    """None when the request carries the operator API token, else the answer refusing it."""
    return _authorized(server, request)


def _authorized(server: BotServer, request: web.Request) -> web.Response | None:
    token = server.api_token
    if token is None:
        return problem(
            403, "Forbidden", "the operator API is off; start botkit serve with --api-token"
        )
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not secrets.compare_digest(given.encode(), token.encode()):
        return problem(401, "Unauthorized", "send Authorization: Bearer <api token>")
    return None


async def start_conversation(server: BotServer, request: web.Request) -> web.StreamResponse:
    """``{"flow", "to", "vars", "channel", "from", "restart", "requestId"}`` -> 201 with the
    conversation's state and the messages queued; 409 if one is in progress (without
    ``restart``), 422 if the flow cannot start (e.g. a text outside the 24-hour window)."""
    refused = _authorized(server, request)
    if refused is not None:
        return refused
    try:
        body = await request.json()
    except ValueError:
        return problem(400, "Invalid JSON", "the body is not JSON")
    if not isinstance(body, dict):
        return problem(400, "Bad Request", "the body must be a JSON object")
    checked = _check(server, body)
    if isinstance(checked, web.Response):
        return checked
    start, request_id = checked
    try:
        stored = await _accept_once(server, start, request_id)
    except _RefusedTooOften as refused:
        return problem(409, "Cannot start", str(refused))
    except UnstorableEvent as error:
        return problem(400, "Bad Request", f"{error}; are the vars nested that deep?")
    except Exception as error:  # not stored, so not started: as a webhook, 503
        if server.store.failure is not None:  # the database's trouble: one line each
            log.error("storing a start failed: %s; answered 503", error)
        else:
            log.exception("storing a start failed")
        return problem(503, "Service Unavailable", "the start could not be stored; try again later")
    if stored is None:
        return web.json_response({"accepted": False, "duplicate": True}, status=200)
    # Waited for from here on: the event runs once submitted, not before. Only the request
    # that was accepted waits (two at once with one request id used to share one future,
    # and the duplicate's answer took it from the other).
    result = server.processor.expect(request_id)
    server.processor.submit(stored)
    try:
        turn = await asyncio.wait_for(asyncio.shield(result), WAIT_FOR_TURN)
    except TimeoutError:
        return web.json_response({"accepted": True, "status": "processing"}, status=202)
    if turn.error is not None:
        status = 409 if turn.refused else 422
        return problem(status, "Cannot start", turn.error)
    conversation = turn.conversation
    assert conversation is not None
    return web.json_response(
        {
            "flow": conversation.flow,
            "user": conversation.user,
            "state": conversation.state,
            "ended": conversation.ended,
            "sent": turn.sent,
        },
        status=201,
    )


async def _accept_once(server: BotServer, start: NewEvent, request_id: str) -> InboxEvent | None:
    """Accept the start under its request id; None when that id started a conversation,
    or is starting one, already.

    A start that was refused (409, 422) or failed did nothing, so it does not use its id
    up: a campaign script run again once the conversation can start (the flow mended, the
    conversation that was in progress over) starts it. Each try is accepted under a key of
    its own, the n-th try's key the same for every caller, so two runs at once still start
    it once.
    """
    error = None
    for attempt in range(1, MAX_TRIES_PER_REQUEST + 1):
        suffix = "" if attempt == 1 else f"\ntry {attempt}"  # no request id holds a newline
        event = dataclasses.replace(start, dedupe_key=f"start:{request_id}{suffix}")
        (stored,) = await server.store.accept([event], now=server.clock())
        if stored is not None:
            return stored
        error = await server.store.finished_with_error(event.dedupe_key)
        if error is None:
            return None  # it went well, or is still running
    raise _RefusedTooOften(
        f"requestId {request_id!r} was refused {MAX_TRIES_PER_REQUEST} times, the last time"
        f" with: {error}; send a new requestId"
    )


class _RefusedTooOften(Exception):
    """A request id was tried and refused as often as it may be."""


def _check(server: BotServer, body: dict[str, Any]) -> tuple[NewEvent, str] | web.Response:
    flow_name = body.get("flow")
    known = ", ".join(server.engine.flows)
    if not isinstance(flow_name, str) or not flow_name:
        return problem(400, "Bad Request", f"flow must name the flow to start (served: {known})")
    flow = server.engine.flows.get(flow_name)
    if flow is None:
        return problem(404, "Unknown flow", f"no flow {flow_name!r} is served (served: {known})")
    to = body.get("to")
    if not isinstance(to, str) or not is_phone_number(to):
        return problem(400, "Bad Request", "to must be the user's phone number, like +491701234567")
    variables = body.get("vars") or {}
    if not isinstance(variables, dict):
        return problem(400, "Bad Request", "vars must be an object")
    channel = body.get("channel") or "whatsapp"
    if channel not in ("whatsapp", "sms", "tyntecEcho"):
        return problem(400, "Bad Request", "channel must be whatsapp, sms or tyntecEcho")
    given_account = body.get("from")
    if given_account is not None and not (isinstance(given_account, str) and given_account):
        return problem(400, "Bad Request", f"from must be the sending {channel} account")
    restart = body.get("restart")
    if restart is None:
        restart = False
    elif not isinstance(restart, bool):
        return problem(400, "Bad Request", "restart must be true or false")
    account = given_account or _own_account(flow.spec.accounts, flow.spec.from_, channel)
    if channel != "sms" and not account:
        return problem(
            400, "Bad Request",
            f"name the sending {channel} account: give from, or accounts/from in the flow",
        )  # fmt: skip
    request_id = str(body.get("requestId") or uuid.uuid4())
    if "\n" in request_id or len(request_id) > 200:
        return problem(400, "Bad Request", "requestId must be one line of 200 characters at most")
    payload = {
        "vars": variables,
        "channel": channel,
        "account": account,
        "restart": restart,
        "request": request_id,
    }
    return NewEvent(f"start:{request_id}", "start", payload, flow.name, digits(to)), request_id


def _own_account(accounts: Any, senders: Any, channel: str) -> str | None:
    listed = (accounts or {}).get(channel)
    if listed:
        return str(listed[0])
    sender = (senders or {}).get(channel)
    return str(sender) if sender else None
