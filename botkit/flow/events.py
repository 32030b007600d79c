"""What a conversation can receive: a user's message, its timeout, a delivery update."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..tyntec.models import InboundMessage, MoMessage

__all__ = ["DeliveryUpdate", "Event", "Start", "Timeout", "UserMessage"]


@dataclass(frozen=True)
class UserMessage:
    """A message from the user, on any channel.

    ``sender`` is the user's number as tyntec wrote it; ``to`` is the bot's account the user
    wrote to (replies go out from it); ``media`` and ``location`` are plain mappings, as the
    flow's templates see them (``message.media.type``).
    """

    sender: str
    channel: str = "whatsapp"
    content_type: str = "text"
    text: str | None = None
    url: str | None = None
    media: dict[str, Any] | None = None
    location: dict[str, Any] | None = None
    to: str | None = None
    name: str | None = None
    message_id: str | None = None

    @classmethod
    def from_mo(cls, message: MoMessage) -> UserMessage:
        """From a Chat API MoMessage."""
        content = message.content
        return cls(
            sender=message.from_,
            channel=message.channel,
            content_type=content.content_type,
            text=content.text if content.text is not None else content.url,
            url=content.url,
            media=content.media.to_payload() if content.media else None,
            location=content.location.to_payload() if content.location else None,
            to=message.to,
            name=message.whatsapp.sender_name if message.whatsapp else None,
            message_id=message.message_id,
        )

    @classmethod
    def from_inbound_sms(cls, message: InboundMessage) -> UserMessage:
        """From a Messaging API inbound SMS."""
        return cls(
            sender=message.from_,
            channel="sms",
            text=message.message,
            to=message.to,
            message_id=message.request_id,
        )

    def template_view(self) -> dict[str, Any]:
        """The message as flow templates see it."""
        return {
            "text": self.text,
            "contentType": self.content_type,
            "content_type": self.content_type,
            "url": self.url,
            "media": self.media,
            "location": self.location,
            "channel": self.channel,
        }


@dataclass(frozen=True)
class Timeout:
    """The user stayed silent until the conversation's deadline."""

    at: float = 0.0


@dataclass(frozen=True)
class DeliveryUpdate:
    """What became of a message the bot sent while in some state.

    ``entry`` says which state entry sent it (carried in the message's ``userContext``), so
    that a late report about an earlier state is not taken for the current one.
    """

    kind: Literal["delivered", "seen", "undelivered"]
    entry: int
    message_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Start:
    """Start the conversation from outside (a reminder, a notification): the flow enters
    ``start`` with ``vars`` added to its own, and writes first.

    ``account`` is the bot's sending account and ``channel`` the user's channel; a
    conversation in progress is only replaced with ``restart``.
    """

    vars: dict[str, Any] = field(default_factory=dict)
    channel: str = "whatsapp"
    account: str | None = None
    restart: bool = False


Event = UserMessage | Timeout | DeliveryUpdate | Start
