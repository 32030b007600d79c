"""One-line builders of the common message requests.

Each builder takes the recipient, the content, the channel or fallback chain (``channels``,
tried in order)
and the sender per channel (``from_``: one string for all, or a mapping by channel), and
returns a checked :class:`MessageRequest`:

>>> req = text("+491701234567", "Your table is ready", from_="4930123")
>>> req.to_payload()["whatsapp"]
{'contentType': 'text', 'text': 'Your table is ready', 'from': '4930123'}
>>> req = template("+491701234567", "order_status", params=["123456", "shipped"],
...                channels=["whatsapp", "sms"], from_={"whatsapp": "4930123", "sms": "Shop"},
...                sms_text="Order 123456: shipped")
>>> req.channels
['whatsapp', 'sms']

SMS carries text only: a media, template or location message that falls back to SMS needs
``sms_text``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from .models.chat import (
    Language,
    Location,
    Media,
    MediaType,
    MessageRequest,
    Template,
    TemplateParameter,
)

__all__ = ["MissingSender", "MissingSmsText", "location", "media", "template", "text", "url"]

Senders = str | Mapping[str, str] | None
ChannelContent = dict[str, Any]


class MissingSender(ValueError):
    """A channel of the chain has no sending account (only SMS has a default one)."""

    def __init__(self, channel: str) -> None:
        super().__init__(f"a {channel} message needs from_ (the sending {channel} account)")
        self.channel = channel


class MissingSmsText(ValueError):
    """A media, template or location message falls back to SMS, which carries only text,
    and no ``sms_text`` says what SMS sends instead."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"SMS cannot carry a {kind} message; pass sms_text= for the SMS fallback")
        self.kind = kind


def text(
    to: str,
    body: str,
    *,
    channels: str | Sequence[str] = "whatsapp",
    from_: Senders = None,
    preview_url: bool = False,
    reply_back: bool | None = None,
    user_context: str | None = None,
    callback_url: str | None = None,
) -> MessageRequest:
    """A text message; ``preview_url`` asks WhatsApp to render a link preview."""

    def content(channel: str) -> ChannelContent:
        part: ChannelContent = {"content_type": "text", "text": body}
        if channel == "whatsapp" and preview_url:
            part["url_preview_displayed"] = True
        return part

    return _request(to, channels, from_, content, reply_back, user_context, callback_url)


def url(
    to: str,
    link: str,
    *,
    channels: str | Sequence[str] = "whatsapp",
    from_: Senders = None,
    reply_back: bool | None = None,
    user_context: str | None = None,
    callback_url: str | None = None,
) -> MessageRequest:
    """A link. WhatsApp and SMS get it as text (tyntec deprecated their ``url`` type),
    WhatsApp with a preview; tyntecEcho keeps ``contentType: url``."""

    def content(channel: str) -> ChannelContent:
        if channel == "tyntecEcho":
            return {"content_type": "url", "url": link}
        if channel == "whatsapp":
            return {"content_type": "text", "text": link, "url_preview_displayed": True}
        return {"content_type": "text", "text": link}

    return _request(to, channels, from_, content, reply_back, user_context, callback_url)


def media(
    to: str,
    media_url: str,
    *,
    kind: MediaType = "image",
    caption: str | None = None,
    channels: str | Sequence[str] = "whatsapp",
    from_: Senders = None,
    sms_text: str | None = None,
    reply_back: bool | None = None,
    user_context: str | None = None,
    callback_url: str | None = None,
) -> MessageRequest:
    """An image, video, audio or document by URL, with an optional caption."""
    attachment = Media(type=kind, url=media_url, caption=caption)

    def content(channel: str) -> ChannelContent:
        if channel == "sms":
            return _sms_fallback(sms_text, "media")
        return {"content_type": "media", "media": attachment}

    return _request(to, channels, from_, content, reply_back, user_context, callback_url)


def template(
    to: str,
    template_id: str,
    *,
    language: str = "en",
    params: Sequence[str] = (),
    policy: Literal["deterministic", "fallback"] = "deterministic",
    channels: str | Sequence[str] = "whatsapp",
    from_: Senders = None,
    sms_text: str | None = None,
    reply_back: bool | None = None,
    user_context: str | None = None,
    callback_url: str | None = None,
) -> MessageRequest:
    """A WhatsApp template with positional ``params`` (policy ``deterministic`` by default;
    WhatsApp deprecated ``fallback``)."""
    message_template = Template(
        template_id=template_id,
        language=Language(policy=policy, code=language),
        parameters=[TemplateParameter(default=p) for p in params],
    )

    def content(channel: str) -> ChannelContent:
        if channel == "sms":
            return _sms_fallback(sms_text, "template")
        return {"content_type": "template", "template": message_template}

    return _request(to, channels, from_, content, reply_back, user_context, callback_url)


def location(
    to: str,
    latitude: float,
    longitude: float,
    *,
    name: str | None = None,
    address: str | None = None,
    channels: str | Sequence[str] = "whatsapp",
    from_: Senders = None,
    sms_text: str | None = None,
    user_context: str | None = None,
    callback_url: str | None = None,
) -> MessageRequest:
    """A location pin (WhatsApp only; give ``sms_text`` for an SMS fallback)."""
    pin = Location(latitude=latitude, longitude=longitude, name=name, address=address)

    def content(channel: str) -> ChannelContent:
        if channel == "sms":
            return _sms_fallback(sms_text, "location")
        if channel == "tyntecEcho":
            raise ValueError("tyntecEcho cannot carry a location message")
        return {"content_type": "location", "location": pin}

    return _request(to, channels, from_, content, None, user_context, callback_url)


def _sms_fallback(sms_text: str | None, kind: str) -> ChannelContent:
    if sms_text is None:
        raise MissingSmsText(kind)
    return {"content_type": "text", "text": sms_text}


_PART_FIELDS = {"whatsapp": "whatsapp", "sms": "sms", "tyntecEcho": "tyntec_echo"}


def _request(
    to: str,
    channels: str | Sequence[str],
    senders: Senders,
    content: Callable[[str], ChannelContent],
    reply_back: bool | None,
    user_context: str | None,
    callback_url: str | None,
) -> MessageRequest:
    chain = [channels] if isinstance(channels, str) else list(channels)
    unknown = [c for c in chain if c not in _PART_FIELDS]
    if unknown:
        raise ValueError(f"unknown channel(s) {unknown}; botkit sends on whatsapp, sms, tyntecEcho")
    parts: dict[str, Any] = {}
    for channel in chain:
        part = content(channel)
        sender = senders if isinstance(senders, str) or senders is None else senders.get(channel)
        if sender is not None:
            part["from_"] = sender
        elif channel != "sms":
            raise MissingSender(channel)
        if channel == "tyntecEcho" and reply_back is not None:
            part["reply_back"] = reply_back
        parts[_PART_FIELDS[channel]] = part
    request: dict[str, Any] = {"to": to, "channels": chain, **parts}
    if user_context:
        request["context"] = {"user_context": user_context}
    if callback_url:
        request["overrides"] = {"notification_callback_url": callback_url}
    # One validation of the whole request: pydantic builds the nested parts itself, several
    # times faster than building each part as a model first (this runs for every reply).
    return MessageRequest.model_validate(request)
