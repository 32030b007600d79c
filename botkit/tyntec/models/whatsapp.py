"""Chat API v2 WhatsApp account models: groups, invite links, the business profile."""

from __future__ import annotations

from pydantic import Field

from ._base import ReceivedModel, SentModel

__all__ = [
    "WhatsAppGroup",
    "WhatsAppGroupDetails",
    "WhatsAppGroupInviteLink",
    "WhatsAppGroupParticipants",
    "WhatsAppGroupProfile",
    "WhatsAppProfile",
    "WhatsAppProfileUpdate",
]


class WhatsAppGroup(ReceivedModel):
    """A group the account is in; ``group_id`` is the ``to`` of messages into it."""

    group_id: str | None = None
    creation_time: int | None = None


class WhatsAppGroupDetails(ReceivedModel):
    """Everything known about one group."""

    subject: str | None = None
    creation_time: int | None = None
    creator: str | None = None
    admins: list[str] = Field(default_factory=list)
    participants: list[str] = Field(default_factory=list)


class WhatsAppGroupParticipants(ReceivedModel):
    """The members of a group."""

    participants: list[str] = Field(default_factory=list)


class WhatsAppGroupProfile(ReceivedModel):
    """A group's profile: its subject (display name)."""

    subject: str


class WhatsAppGroupInviteLink(ReceivedModel):
    """The link that lets people join a group."""

    link: str


class WhatsAppProfile(ReceivedModel):
    """The business profile shown to WhatsApp users."""

    address: str | None = None
    description: str | None = None
    email: str | None = None
    websites: list[str] | None = None
    vertical: str | None = None
    about: str | None = None


class WhatsAppProfileUpdate(SentModel):
    """A partial profile update: set fields change, ``""`` removes one, unset ones stay."""

    address: str | None = None
    description: str | None = None
    email: str | None = None
    websites: list[str] | None = Field(default=None, max_length=2)
    vertical: str | None = None
    about: str | None = None
