"""Turning what arrives at the webhooks into inbox events: validated, routed, keyed for
de-duplication. tyntec retries whatever it does not get a 2xx for, so the keys are what makes
a retry harmless: a MoMessage by its messageId, a status by messageId and status (a
tyntecEcho echo shares its messageId with the message that caused it, so the kind is part of
the key)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Container
from typing import Any

import pydantic

from .._numbers import digits
from ..flow import delivery_update, parse_user_context
from ..store import NewEvent, OutboxMessage
from ..store.base import refusal_key
from ..tyntec.models import (
    InboundMessage,
    MessageStatus,
    MoMessage,
    UnknownEvent,
    WhatsAppGroupEvent,
    parse_event,
)
from .routing import Router

__all__ = [
    "REFUSED",
    "BadNotification",
    "chat_notification",
    "inbound_sms",
    "refusal_event",
    "timeout_event",
]


class BadNotification(ValueError):
    """A body that is not a notification; ``detail`` says why, for the 400 answer."""

    def __init__(self, detail: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


def _invalid(error: pydantic.ValidationError, what: str) -> BadNotification:
    errors = [
        {"field": ".".join(str(p) for p in e["loc"]), "message": str(e["msg"])}
        for e in error.errors()
    ]
    listed = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return BadNotification(f"not a valid {what}: {listed}", errors)


def chat_notification(payload: Any, router: Router, known_flows: Container[str]) -> NewEvent:
    """An inbox event for a Chat API notification (MoMessage, MessageStatus, group event)."""
    if not isinstance(payload, dict):
        raise BadNotification("the body must be a JSON object")
    try:
        event = parse_event(payload)
    except pydantic.ValidationError as exc:
        raise _invalid(exc, str(payload.get("event") or "notification")) from None
    if isinstance(event, MoMessage):
        # A message into a group is answered in the group: the group is the conversation.
        user = event.group_id or digits(event.from_)
        flow = router.flow_for(event.channel, event.to)
        return NewEvent(
            f"mo:{event.message_id}", "message", payload, flow, user if flow else None, event
        )
    if isinstance(event, MessageStatus):
        key = f"status:{event.message_id}:{event.event}"
        found = delivery_update(event)
        if found is not None and found[0] in known_flows:
            return NewEvent(key, "delivery", payload, found[0], found[1], event)
        return NewEvent(key, "status", payload, parsed=event)
    if isinstance(event, WhatsAppGroupEvent):
        return NewEvent(f"group:{_fingerprint(payload)}", "group", payload)
    assert isinstance(event, UnknownEvent)
    return NewEvent(f"unknown:{_fingerprint(payload)}", "unknown", payload)


def inbound_sms(payload: Any, router: Router) -> NewEvent:
    """An inbox event for an inbound SMS of the Messaging API."""
    if not isinstance(payload, dict):
        raise BadNotification("the body must be a JSON object")
    try:
        message = InboundMessage.model_validate(payload)
    except pydantic.ValidationError as exc:
        raise _invalid(exc, "InboundMessage") from None
    flow = router.flow_for("sms", message.to)
    user = digits(message.from_) if flow else None
    return NewEvent(f"sms:{message.request_id}", "sms", payload, flow, user, message)


def timeout_event(flow: str, user: str, deadline: float) -> NewEvent:
    """The timeout of one wait; its deadline makes it unique."""
    return NewEvent(f"timeout:{flow}:{user}:{deadline!r}", "timeout", {"at": deadline}, flow, user)


#: The ``details.code`` of the event botkit makes of a message tyntec refused.
REFUSED = "refused"


def refusal_event(message: OutboxMessage, error: str) -> NewEvent | None:
    """The ``undelivered`` event of a message tyntec refused for good, for the state that
    sent it, as if tyntec had reported it failed; None for a message no state sent (an
    operator's, or an ``on_error`` reply).

    One per state entry: its key is the entry's, so a rule for ``undelivered`` whose own
    message is refused again is not set off again, which would loop as fast as tyntec
    answers. (A delivery report that says failed is a separate event, as before.)"""
    context = (message.request.get("context") or {}).get("userContext")
    target = parse_user_context(context)
    if target is None or target[2] == 0:
        return None
    flow, user, entry = target
    channels = message.request.get("channels") or [None]
    payload = {
        "event": "MessageStatus::failed",
        "messageId": f"botkit-outbox-{message.id}",  # tyntec gave it no id
        "channel": channels[0],
        "status": "failed",
        "userContext": context,
        "details": {"code": REFUSED, "message": error},
    }
    return NewEvent(refusal_key((flow, user), entry), "delivery", payload, flow, user)


def _fingerprint(payload: dict[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]
