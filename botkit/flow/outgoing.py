"""Turning a flow's message into a tyntec message request addressed to the user.

By default a reply goes to the user on the channel and from the account the user wrote to;
the flow's ``from`` and ``channels``, then the message's own, override that.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from typing import Any, Literal

from .._numbers import digits
from ..tyntec import messages
from ..tyntec.models import TEXT_LIMITS, MessageRequest, MessageStatus
from .conversation import Conversation
from .events import DeliveryUpdate
from .spec import FlowSpec, MessageSpec

__all__ = [
    "MAX_TEXT",
    "USER_CONTEXT_PREFIX",
    "account_key",
    "build_requests",
    "channels_for",
    "channels_that_cannot_carry",
    "delivery_update",
    "describe",
    "first_part",
    "parse_user_context",
    "sender_for",
    "split_text",
    "user_context",
    "window_open",
]

USER_CONTEXT_PREFIX = "botkit"

Render = Callable[[str], str]
Value = Callable[[Any], Any]


def user_context(conversation: Conversation) -> str:
    """The ``userContext`` of messages sent now: which conversation and which state entry,
    so delivery reports find their way back."""
    return f"{USER_CONTEXT_PREFIX}|{conversation.flow}|{conversation.user}|{conversation.entry}"


# A flow's name has no "|" (the loader sees to it); a user's id may (tyntecEcho takes any
# text), so the user is all between the flow and the last "|". The entry's digits are ASCII:
# str.isdigit() also takes "²", which int() does not.
_USER_CONTEXT = re.compile(rf"{USER_CONTEXT_PREFIX}\|([^|]+)\|(.+)\|([0-9]+)", re.DOTALL)


def parse_user_context(value: str | None) -> tuple[str, str, int] | None:
    """``(flow, user, entry)`` from a ``userContext`` botkit set, else None."""
    if not value:
        return None
    found = _USER_CONTEXT.fullmatch(value)
    if found is None:
        return None
    return found[1], found[2], int(found[3])


_DELIVERY_KINDS: dict[str, Literal["delivered", "seen", "undelivered"]] = {
    "delivered": "delivered",
    "seen": "seen",
    "failed": "undelivered",
    "channelFailed": "undelivered",  # one channel of a chain failed
}


def delivery_update(status: MessageStatus) -> tuple[str, str, DeliveryUpdate] | None:
    """``(flow, user, event)`` for a status notification of a message botkit sent, when it
    is one a conversation hears about (delivered, seen, failed, channelFailed)."""
    kind = _DELIVERY_KINDS.get(status.kind)
    target = parse_user_context(status.user_context)
    if kind is None or target is None:
        return None
    flow, user, entry = target
    details = status.details.to_payload() if status.details else {}
    return flow, user, DeliveryUpdate(kind, entry, status.message_id, details)


def first_part(payload: dict[str, Any]) -> dict[str, Any]:
    """The content of a request's first channel: what the user sees when it delivers."""
    channel = payload["channels"][0]
    return dict(payload.get(channel) or payload.get("defaultContent") or {})


def describe(payload: dict[str, Any]) -> str:
    """A message request in one line, as a person would read it:
    ``template order_status(123456, shipped)``, ``[image] https://... 'caption'``."""
    content = first_part(payload)
    kind = content.get("contentType")
    if kind == "template":
        template = content["template"]
        params = ", ".join(p.get("default", "") for p in template.get("parameters", []))
        return f"template {template['templateId']}({params})"
    if kind == "media":
        media = content["media"]
        caption = f" {media['caption']!r}" if media.get("caption") else ""
        return f"[{media.get('type', 'media')}] {media['url']}{caption}"
    if kind == "location":
        where = content["location"]
        name = f" {where['name']}" if where.get("name") else ""
        return f"[location] {where['latitude']}, {where['longitude']}{name}"
    if kind == "url":
        return str(content.get("url"))
    return str(content.get("text"))


def build_requests(
    message: MessageSpec,
    *,
    conversation: Conversation,
    flow: FlowSpec,
    render: Render,
    value: Value,
) -> list[MessageRequest]:
    """The requests that send ``message`` to the conversation's user: one, or one per part
    of a text longer than its channels take (see :func:`split_text`)."""
    channels = channels_for(message, conversation, flow)
    senders = _senders(message, conversation, flow, channels)
    common: dict[str, Any] = {
        "channels": channels,
        "from_": senders,
        "user_context": user_context(conversation),
    }
    to = conversation.user
    if message.text is not None:
        limit = min(TEXT_LIMITS.get(channel, _NO_LIMIT) for channel in channels)
        text = render(message.text)
        if len(text) > MAX_TEXT:
            raise ValueError(
                f"the text is {len(text):,} characters, more than the {MAX_TEXT:,} a message "
                "may have even when cut into several; shorten it"
            )
        return [messages.text(to, part, **common) for part in split_text(text, limit)]
    return [_request(message, to, common, render, value)]


_NO_LIMIT = 1 << 30

#: The longest text a message may render to, before it is cut for its channel: WhatsApp's
#: own limit on what a user may write. A template that renders far more than anyone reads
#: (an action's whole result, a loop gone wrong) is a mistake to report, not a flood to send.
MAX_TEXT = 65_536


def split_text(text: str, limit: int) -> list[str]:
    """``text`` in parts of at most ``limit`` characters, for a channel that takes no more
    in one message (tyntecEcho takes 100): a reply that quotes the user, or lists what an
    action found, still reaches them, in order. Each cut is at the last paragraph break,
    line break, sentence end or space that keeps the part at least half full, else at
    ``limit``."""
    parts: list[str] = []
    start = 0  # where the rest begins: slicing the rest off each time copied it, per part
    while len(text) - start > limit:
        window = text[start : start + limit + 1]  # a space right after the limit: a clean cut
        cut = 0
        for boundary in ("\n\n", "\n", ". ", "! ", "? ", " "):
            found = window.rfind(boundary)
            if found >= limit // 2:
                cut = found + (1 if boundary[0] in ".!?" else 0)
                break
        if cut == 0:
            cut = limit
        part = window[:cut].rstrip()
        if part:
            parts.append(part)
        start += cut
        while start < len(text) and text[start].isspace():
            start += 1
    rest = text[start:]
    if rest.strip() or not parts:
        parts.append(rest)
    return parts


def _request(
    message: MessageSpec, to: str, common: dict[str, Any], render: Render, value: Value
) -> MessageRequest:
    # Rendered only for a chain that has SMS: it is what SMS sends instead, and nothing else.
    on_sms = "sms" in common["channels"]
    sms_text = render(message.sms_text) if message.sms_text and on_sms else None
    if message.url is not None:
        return messages.url(to, render(message.url), **common)
    if message.media is not None:
        caption = render(message.media.caption) if message.media.caption else None
        return messages.media(
            to, render(message.media.url), kind=message.media.type, caption=caption,
            sms_text=sms_text, **common,
        )  # fmt: skip
    if message.location is not None:
        location = message.location
        return messages.location(
            to,
            float(value(location.latitude)),
            float(value(location.longitude)),
            name=render(location.name) if location.name else None,
            address=render(location.address) if location.address else None,
            sms_text=sms_text,
            **common,
        )
    assert message.template is not None
    assert message.language is not None
    return messages.template(
        to,
        render(message.template),
        language=render(message.language),
        params=[render(p) for p in message.params],
        policy=message.policy or "deterministic",
        sms_text=sms_text,
        **common,
    )


def _senders(
    message: MessageSpec, conversation: Conversation, flow: FlowSpec, channels: list[str]
) -> dict[str, str]:
    senders: dict[str, str] = {}
    for channel in channels:
        sender = sender_for(message, conversation, flow, channel)
        if sender is not None:
            senders[channel] = sender
    return senders


def sender_for(
    message: MessageSpec, conversation: Conversation, flow: FlowSpec, channel: str
) -> str | None:
    """Who sends ``message`` on ``channel``: the message's ``from``, the flow's, or the
    account the user wrote to."""
    if isinstance(message.from_, str):
        return message.from_
    if isinstance(message.from_, dict) and channel in message.from_:
        return message.from_[channel]
    sender: str | None = flow.from_.get(channel)  # type: ignore[call-overload]
    if sender is None and channel == conversation.channel:
        sender = conversation.account
    return sender


def channels_for(message: MessageSpec, conversation: Conversation, flow: FlowSpec) -> list[str]:
    """The channel chain ``message`` goes out on."""
    configured: list[str] = [*(message.channels or flow.channels or [])]
    return configured or [conversation.channel]


def channels_that_cannot_carry(message: MessageSpec, channels: Collection[str]) -> list[str]:
    """Which of ``channels`` cannot carry ``message`` as the flow writes it (the client
    refuses to build it): SMS takes a template, media or location only as its ``sms_text``,
    and tyntecEcho takes no location."""
    refusing = []
    if "sms" in channels and message.kind in _SMS_NEEDS_TEXT and message.sms_text is None:
        refusing.append("sms")
    if "tyntecEcho" in channels and message.kind == "location":
        refusing.append("tyntecEcho")
    return refusing


_SMS_NEEDS_TEXT = frozenset({"template", "media", "location"})

WHATSAPP_WINDOW = 24 * 3600


def account_key(account: str | None) -> str:
    """An account as the window bookkeeping keys it: its digits."""
    return digits(account)


def window_open(conversation: Conversation, account: str | None, now: float) -> bool:
    """True while WhatsApp's customer-care window with ``account`` is open: the user wrote
    to it in the last 24 hours, so free-form messages are delivered."""
    last = conversation.last_inbound.get(account_key(account))
    return last is not None and now - last < WHATSAPP_WINDOW
