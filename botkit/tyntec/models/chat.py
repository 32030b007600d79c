"""Chat API v2 message requests and responses: what botkit sends to ``POST /messages``.

The channel parts (``whatsapp``, ``sms``, ``tyntecEcho``) are checked before anything is sent:
the field their ``contentType`` needs is present, and text is within the channel's limit.
"""

from __future__ import annotations

import re
from typing import ClassVar, Literal, Self

from pydantic import Field, field_validator, model_validator

from ._base import ReceivedModel, SentModel

__all__ = [
    "TEXT_LIMITS",
    "Channel",
    "DefaultContent",
    "HistoryDetails",
    "HistoryItem",
    "Language",
    "Location",
    "Media",
    "MediaType",
    "MessageHistory",
    "MessageRequest",
    "MessageRequestContext",
    "MessageRequestOverrides",
    "MessageResponse",
    "SMSRequest",
    "StoredContent",
    "StoredMessage",
    "Template",
    "TemplateParameter",
    "TyntecEchoRequest",
    "WhatsAppMessageRequest",
    "is_http_url",
]

Channel = Literal["whatsapp", "sms", "tyntecEcho"]
MediaType = Literal["image", "document", "audio", "video"]

#: The longest text each channel takes, in characters (WhatsApp's own limit, the SMS
#: concatenation tyntec performs, and tyntecEcho's).
TEXT_LIMITS: dict[str, int] = {"whatsapp": 4096, "sms": 3000, "tyntecEcho": 100}

_HTTP_URL = re.compile(r"^https?://\S+$")
# WhatsApp rejects template parameters with a newline, a tab or more than 4 spaces in a row.
_BAD_TEMPLATE_PARAMETER = re.compile(r"[\n\t]| {5,}")


def is_http_url(url: str) -> bool:
    """Whether ``url`` is what tyntec takes as a link: http(s), no spaces."""
    return _HTTP_URL.match(url) is not None


def _check_url(url: str | None) -> str | None:
    if url is not None and not is_http_url(url):
        raise ValueError(f"must be an http(s) URL, got {url!r}")
    return url


class Media(SentModel):
    """A media attachment by URL, with an optional caption."""

    type: MediaType | None = None
    url: str
    caption: str | None = None

    _url = field_validator("url")(_check_url)


class Language(SentModel):
    """How WhatsApp picks the template's language; ``fallback`` is deprecated by WhatsApp."""

    policy: Literal["deterministic", "fallback"] = "deterministic"
    code: str = Field(min_length=2)


class TemplateParameter(SentModel):
    """One positional value substituted into a template."""

    default: str

    @field_validator("default")
    @classmethod
    def _whatsapp_accepts(cls, value: str) -> str:
        if _BAD_TEMPLATE_PARAMETER.search(value):
            raise ValueError("must not contain a newline, a tab or more than 4 spaces in a row")
        return value


class Template(SentModel):
    """A pre-approved WhatsApp template message."""

    template_id: str = Field(min_length=1)
    language: Language
    parameters: list[TemplateParameter] = Field(default_factory=list)


class Location(SentModel):
    """A point on the map. Latitude is a decimal number (the spec's ``integer`` is a typo)."""

    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    name: str | None = None
    address: str | None = None


class _ChannelContent(SentModel):
    """What all channel parts share; subclasses narrow ``contentType`` and name the channel."""

    channel_name: ClassVar[str] = ""
    content_type: str
    text: str | None = None
    url: str | None = None
    media: Media | None = None
    template: Template | None = None

    _url = field_validator("url")(_check_url)

    @model_validator(mode="after")
    def _content_matches_type(self) -> Self:
        needed = {
            "text": self.text,
            "url": self.url,
            "media": self.media,
            "template": self.template,
            "location": getattr(self, "location", None),  # only WhatsApp has one
        }
        if self.content_type in needed and needed[self.content_type] is None:
            raise ValueError(f"contentType {self.content_type!r} needs {self.content_type!r}")
        limit = TEXT_LIMITS.get(self.channel_name)
        if limit is not None and self.text is not None and len(self.text) > limit:
            raise ValueError(
                f"text is {len(self.text)} characters; {self.channel_name} takes at most {limit}"
            )
        if self.content_type == "text" and self.text is not None and not self.text.strip():
            raise ValueError("text must not be empty")
        return self


class WhatsAppMessageRequest(_ChannelContent):
    """The ``whatsapp`` part of a message request."""

    channel_name: ClassVar[str] = "whatsapp"
    from_: str = Field(alias="from", min_length=1)
    content_type: Literal["text", "url", "media", "template", "location"]
    location: Location | None = None
    url_preview_displayed: bool | None = None


class SMSRequest(_ChannelContent):
    """The ``sms`` part of a message request (text only; ``url`` is deprecated by tyntec)."""

    channel_name: ClassVar[str] = "sms"
    from_: str | None = Field(default=None, alias="from")
    content_type: Literal["text", "url"]


class TyntecEchoRequest(_ChannelContent):
    """The ``tyntecEcho`` part: a test channel that reports delivery and, with
    ``replyBack``, sends the message back to the webhook as a MoMessage."""

    channel_name: ClassVar[str] = "tyntecEcho"
    from_: str = Field(alias="from", min_length=1)
    content_type: Literal["text", "url", "media", "template"]
    reply_back: bool | None = None


class DefaultContent(_ChannelContent):
    """Content shared by all channels of a request (deprecated by tyntec; prefer the parts)."""

    from_: str = Field(alias="from", min_length=1)
    content_type: Literal["text", "url", "media", "template"]


class MessageRequestOverrides(SentModel):
    """Per-message overrides, e.g. where its delivery notifications go."""

    notification_callback_url: str | None = None

    _url = field_validator("notification_callback_url")(_check_url)


class MessageRequestContext(SentModel):
    """Context carried back on the message's delivery notifications."""

    user_context: str | None = Field(default=None, max_length=255)  # tyntec's limit


class MessageRequest(SentModel):
    """A message to send with ``POST /chat-api/v2/messages``.

    ``channels`` is tried in order (a fallback chain); each channel named needs its part
    (or ``defaultContent``). Build the common cases with :mod:`botkit.tyntec.messages`.
    """

    to: str = Field(min_length=1)
    channels: list[Channel] = Field(min_length=1)
    overrides: MessageRequestOverrides | None = None
    context: MessageRequestContext | None = None
    default_content: DefaultContent | None = None
    sms: SMSRequest | None = None
    whatsapp: WhatsAppMessageRequest | None = None
    tyntec_echo: TyntecEchoRequest | None = None

    @model_validator(mode="after")
    def _every_channel_has_content(self) -> Self:
        if len(set(self.channels)) != len(self.channels):
            raise ValueError(f"channels must not repeat: {self.channels}")
        parts = {"sms": self.sms, "whatsapp": self.whatsapp, "tyntecEcho": self.tyntec_echo}
        missing = [c for c in self.channels if parts[c] is None and self.default_content is None]
        if missing:
            raise ValueError(f"no content for channel(s) {', '.join(missing)}")
        return self


class MessageResponse(ReceivedModel):
    """tyntec's 202 answer to a send: the id that notifications will refer to."""

    message_id: str
    accepted_at: str | None = None


class StoredContent(ReceivedModel):
    """A channel part of a message as tyntec stored it (read leniently)."""

    from_: str | None = Field(default=None, alias="from")
    content_type: str | None = None
    text: str | None = None
    url: str | None = None
    media: dict[str, object] | None = None
    template: dict[str, object] | None = None
    location: dict[str, object] | None = None
    reply_back: bool | None = None
    url_preview_displayed: bool | None = None


class StoredMessage(ReceivedModel):
    """A message previously sent, as ``GET /messages/{id}`` returns it."""

    message_id: str | None = None
    to: str
    channels: list[str]
    sms: StoredContent | None = None
    whatsapp: StoredContent | None = None
    tyntec_echo: StoredContent | None = None
    default_content: StoredContent | None = None


class HistoryDetails(ReceivedModel):
    """Further information on a delivery event, e.g. a failure code."""

    code: str | None = None
    message: str | None = None
    from_: str | None = Field(default=None, alias="from")


class HistoryItem(ReceivedModel):
    """One step of a message's delivery (``accepted``, ``dispatched``, ``success`` ...)."""

    delivery_channel: str | None = None
    channel: str | None = None
    happend_at: str | None = None
    state: str | None = None
    details: HistoryDetails | None = None


class MessageHistory(ReceivedModel):
    """``GET /messages/{id}/history``: the delivery steps so far, oldest first."""

    message_id: str | None = None
    user_context: str | None = None
    history: list[HistoryItem] = Field(default_factory=list)
