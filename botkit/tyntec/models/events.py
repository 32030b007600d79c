"""Notifications tyntec posts to a webhook: MoMessage, MessageStatus::*, WhatsAppGroupEvent::*,
and the Messaging API's InboundMessage (inbound SMS).

Everything here is read leniently: optional where tyntec's prose and spec disagree (a MoMessage's
``to`` and ``timestamp``), unknown fields kept, unknown event kinds parsed as :class:`UnknownEvent`
rather than refused, so a new kind of notification never makes a webhook answer 4xx.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ._base import ReceivedModel
from .chat import HistoryDetails

__all__ = [
    "ChatEvent",
    "InboundContent",
    "InboundMessage",
    "MessageStatus",
    "MessageStatusChannelFailed",
    "MessageStatusDeleted",
    "MoContent",
    "MoContext",
    "MoMedia",
    "MoMessage",
    "MoSMS",
    "MoWhatsApp",
    "ReceivedLocation",
    "SMSContent",
    "SMSOrigin",
    "UnknownEvent",
    "WhatsAppGroupEvent",
    "parse_event",
]


class MoMedia(ReceivedModel):
    """Media a user sent; download it with ``chat.download_media(media_id)``."""

    type: str | None = None
    url: str | None = None
    media_id: str | None = None
    caption: str | None = None


class ReceivedLocation(ReceivedModel):
    """A location a user shared."""

    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None


class MoContent(ReceivedModel):
    """What a user sent: ``contentType`` says which of the other fields is set."""

    content_type: str
    text: str | None = None
    url: str | None = None
    media: MoMedia | None = None
    location: ReceivedLocation | None = None


class MoContext(ReceivedModel):
    """The message a user replied to, if any."""

    message_id: str | None = None


class SMSOrigin(ReceivedModel):
    """The network an inbound SMS came from."""

    mcc: str | None = None
    mnc: str | None = None
    tt_id: str | None = None


class SMSContent(ReceivedModel):
    """One part of a concatenated inbound SMS."""

    message_id: str | None = None
    sent_date: str | None = None
    price: float | None = None
    currency: str | None = None
    price_effective: str | None = None
    sequence_number: int | None = None


class MoSMS(ReceivedModel):
    """SMS specifics of a MoMessage."""

    origin: SMSOrigin | None = None
    total_price: float | None = None
    size: int | None = None
    missing_parts: bool | None = None
    parts: list[SMSContent] = Field(default_factory=list)


class MoWhatsApp(ReceivedModel):
    """WhatsApp specifics of a MoMessage: the sender's profile name."""

    sender_name: str | None = None


class MoMessage(ReceivedModel):
    """A message from a user (``event: MoMessage``)."""

    event: Literal["MoMessage"] = "MoMessage"
    message_id: str = Field(min_length=1, max_length=256)
    #: A channel's name: any, so that a channel tyntec adds is taken (and its event fails
    #: with a clear line), but a name, not any text the sender likes.
    channel: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
    #: A phone number or account id: the conversation's key, so it is bounded too.
    from_: str = Field(alias="from", min_length=1, max_length=64)
    to: str | None = None
    timestamp: str | None = None
    received_at: str | None = None
    group_id: str | None = None
    content: MoContent
    context: MoContext | None = None
    sms: MoSMS | None = None
    whatsapp: MoWhatsApp | None = None


class MessageStatus(ReceivedModel):
    """A delivery notification of a message the bot sent (``MessageStatus::<status>``)."""

    event: str
    message_id: str = Field(min_length=1)
    channel: str | None = None
    delivery_channel: str | None = None
    status: str | None = None
    timestamp: str | None = None
    user_context: str | None = None
    from_: str | None = Field(default=None, alias="from")
    details: HistoryDetails | None = None

    @property
    def kind(self) -> str:
        """The status word: ``delivered``, ``seen``, ``failed``, ``channelFailed`` ..."""
        return self.event.partition("::")[2] or (self.status or "")


class MessageStatusChannelFailed(MessageStatus):
    """One channel of a fallback chain failed; the chain goes on (intermediate)."""

    details: HistoryDetails | None = None


class MessageStatusDeleted(MessageStatus):
    """The user deleted a message they had sent to the bot."""

    to: str | None = None


class WhatsAppGroupEvent(ReceivedModel):
    """Something happened in a WhatsApp group the account is in."""

    event: str
    group_id: str
    channel: str | None = None
    timestamp: str | None = None
    from_: str | None = Field(default=None, alias="from")
    operator: str | None = None
    subject: str | None = None
    description: str | None = None
    users: list[str] = Field(default_factory=list)


class UnknownEvent(ReceivedModel):
    """A notification of a kind this version of botkit does not know; kept as it came. It
    still has an ``event``, as every notification of the Chat API has (its ``APIEvent``)."""

    event: str = Field(min_length=1)


class InboundContent(ReceivedModel):
    """One part of an inbound SMS of the Messaging API."""

    msg_id: str | None = None
    sent_date: str | None = None
    sequence_number: int | None = None
    price: float | None = None
    currency: str | None = None
    price_effective: str | None = None


class InboundMessage(ReceivedModel):
    """An SMS to one of the account's numbers, posted by the Messaging API."""

    from_: str = Field(alias="from", min_length=1)
    to: str
    message: str
    request_id: str = Field(min_length=1)
    origin_mcc: str | None = Field(default=None, alias="originMCC")
    origin_mnc: str | None = Field(default=None, alias="originMNC")
    origin_tt_id: str | None = Field(default=None, alias="originTtId")
    total_price: float | None = None
    size: int | None = None
    missing_parts: bool | None = None
    content_list: list[InboundContent] = Field(default_factory=list)


ChatEvent = (
    MoMessage
    | MessageStatus
    | MessageStatusChannelFailed
    | MessageStatusDeleted
    | WhatsAppGroupEvent
    | UnknownEvent
)


def parse_event(payload: dict[str, Any]) -> ChatEvent:
    """Read one Chat API notification into its model, chosen by its ``event`` field.

    Raises ``pydantic.ValidationError`` when a known kind lacks what it must carry (a
    MoMessage without ``from`` or ``content``, or with an empty ``messageId``), and for a body
    with no ``event`` at all; an unknown kind is an :class:`UnknownEvent`.

    >>> parse_event({"event": "MessageStatus::seen", "messageId": "m1"}).kind
    'seen'
    """
    event = payload.get("event")
    if event == "MoMessage":
        return MoMessage.model_validate(payload)
    if isinstance(event, str) and event.startswith("MessageStatus::"):
        kind = event.partition("::")[2]
        if kind == "channelFailed":
            return MessageStatusChannelFailed.model_validate(payload)
        if kind == "deleted":
            return MessageStatusDeleted.model_validate(payload)
        return MessageStatus.model_validate(payload)
    if isinstance(event, str) and event.startswith("WhatsAppGroupEvent::"):
        return WhatsAppGroupEvent.model_validate(payload)
    return UnknownEvent.model_validate(payload)
