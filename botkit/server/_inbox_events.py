"""What an inbox event means to the engine (its engine event) and to the conversation's
history (its story lines): the same for an event taken from the inbox and for a webhook's
event whose turn runs before it is stored."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..flow import Event, Outcome, Start, Timeout, UserMessage, delivery_update
from ..store import InboxEvent, NewEvent
from ..tyntec.models import InboundMessage, MessageStatus, MoMessage, parse_event
from .intake import REFUSED

__all__ = ["engine_event", "event_story", "turn_story"]


def turn_story(
    event: InboxEvent | NewEvent, outcome: Outcome, outbox: list[dict[str, Any]]
) -> list[tuple[str, str]]:
    """The history lines of a turn: its event (if it counted), moves and notes."""
    story = event_story(event, outcome.handled or bool(outbox) or bool(outcome.transitions))
    story += [("move", f"{a or '(start)'} -> {b}") for a, b in outcome.transitions]
    story += [("note", note) for note in outcome.notes]
    return story


def event_story(event: InboxEvent | NewEvent, relevant: bool) -> list[tuple[str, str]]:
    """The history line of an event; delivery reports only when they changed something."""
    payload = event.payload
    if event.kind == "message":
        content = payload.get("content") or {}
        kind = content.get("contentType")
        if kind == "media":
            said = f"[{(content.get('media') or {}).get('type', 'media')}]"
        elif kind == "location":
            said = "[location]"
        else:
            said = str(content.get("text") or content.get("url"))
        return [("event", f"user: {said}")]
    if event.kind == "sms":
        return [("event", f"user (sms): {payload.get('message')}")]
    if event.kind == "timeout":
        return [("event", "timeout")]
    if event.kind == "start":
        return [("event", "started from outside")]
    if relevant:
        details = payload.get("details") or {}
        if details.get("code") == REFUSED:  # botkit's own event: say why, tyntec did not
            return [("event", f"{event.kind}: refused by tyntec: {details.get('message')}")]
        return [("event", f"{event.kind}: {str(payload.get('event', '')).partition('::')[2]}")]
    return []


def engine_event(event: InboxEvent | NewEvent) -> Event:
    payload: dict[str, Any] = event.payload
    if event.kind == "message":
        message = event.parsed if isinstance(event.parsed, MoMessage) else parse_event(payload)
        assert isinstance(message, MoMessage)
        user_message = UserMessage.from_mo(message)
        if message.group_id:
            # In a group, replies go to the group, and the group is the conversation.
            return dataclasses.replace(user_message, sender=message.group_id)
        return user_message
    if event.kind == "sms":
        sms = event.parsed
        if not isinstance(sms, InboundMessage):
            sms = InboundMessage.model_validate(payload)
        return UserMessage.from_inbound_sms(sms)
    if event.kind == "delivery":
        status = event.parsed if event.parsed is not None else parse_event(payload)
        assert isinstance(status, MessageStatus)
        found = delivery_update(status)
        assert found is not None
        return found[2]
    if event.kind == "timeout":
        return Timeout(at=float(payload["at"]))
    if event.kind == "start":
        return Start(
            vars=dict(payload.get("vars") or {}),
            channel=str(payload.get("channel") or "whatsapp"),
            account=payload.get("account"),
            restart=bool(payload.get("restart")),
        )
    raise ValueError(f"no conversation event for inbox kind {event.kind!r}")
