"""Chat API v2: send messages, follow their delivery, download media, manage WhatsApp."""

from __future__ import annotations

import builtins
from typing import Any

from ._paths import DownloadedMedia, phone_segment, segment
from ._transport import Transport
from .models.chat import MessageHistory, MessageRequest, MessageResponse, StoredMessage
from .models.events import MessageStatus
from .models.whatsapp import (
    WhatsAppGroup,
    WhatsAppGroupDetails,
    WhatsAppGroupInviteLink,
    WhatsAppGroupParticipants,
    WhatsAppGroupProfile,
    WhatsAppProfile,
    WhatsAppProfileUpdate,
)

__all__ = ["ChatAPI", "WhatsAppAccountAPI", "WhatsAppGroupsAPI"]

PREFIX = "/chat-api/v2"


class ChatAPI:
    """``api.chat``: messages on WhatsApp, SMS and tyntecEcho, and WhatsApp account settings."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self.groups = WhatsAppGroupsAPI(transport)
        self.whatsapp = WhatsAppAccountAPI(transport)

    async def send(
        self, message: MessageRequest | dict[str, Any], *, retry_unsafe: bool = False
    ) -> MessageResponse:
        """Send a message; tyntec answers 202 with the id its notifications will carry.

        ``message`` is a :class:`MessageRequest`, or the payload of one
        (``MessageRequest.to_payload()``), which is sent as it is: the server keeps checked
        payloads in its outbox and sends them without checking them twice.

        A send is not idempotent: it is retried only when tyntec provably did not take it
        (the connection failed, or 429). After a timeout or a 5xx tyntec may have accepted
        it, so the error is raised rather than risking a second copy at the user's phone;
        pass ``retry_unsafe=True`` to retry those too.

        >>> # await api.chat.send(messages.text("+491701234567", "Hi!", from_="4930123"))
        """
        payload = message if isinstance(message, dict) else message.to_payload()
        response = await self._transport.request(
            "POST", f"{PREFIX}/messages", json_body=payload, idempotent=retry_unsafe
        )
        return MessageResponse.model_validate(response.json())

    async def get_message(self, message_id: str) -> StoredMessage:
        """A message sent earlier (kept by tyntec for 48 h after its final status)."""
        response = await self._transport.request("GET", f"{PREFIX}/messages/{segment(message_id)}")
        return StoredMessage.model_validate(response.json())

    async def history(self, message_id: str) -> MessageHistory:
        """Every delivery step of a message so far."""
        path = f"{PREFIX}/messages/{segment(message_id)}/history"
        response = await self._transport.request("GET", path)
        return MessageHistory.model_validate(response.json())

    async def status(self, message_id: str) -> MessageStatus:
        """The current status of a message, as its last notification said."""
        path = f"{PREFIX}/messages/{segment(message_id)}/status"
        response = await self._transport.request("GET", path)
        return MessageStatus.model_validate(response.json())

    async def download_media(self, media_id: str, *, timeout: float = 60.0) -> DownloadedMedia:
        """Media a user sent (``MoMessage.content.media.media_id``)."""
        path = f"{PREFIX}/media/{segment(media_id)}"
        response = await self._transport.request("GET", path, timeout=timeout)
        return DownloadedMedia.from_response(response)


def _groups_path(phone: str | int, group_id: str | None = None) -> str:
    path = f"{PREFIX}/channels/whatsapp/phone-numbers/{phone_segment(phone)}/groups"
    return path if group_id is None else f"{path}/{segment(group_id)}"


class WhatsAppGroupsAPI:
    """``api.chat.groups``: WhatsApp groups of one of the account's numbers."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def list(self, phone: str | int) -> builtins.list[WhatsAppGroup]:
        """Every group the number is in."""
        response = await self._transport.request("GET", _groups_path(phone))
        return [WhatsAppGroup.model_validate(g) for g in response.json() or []]

    async def create(self, phone: str | int, subject: str) -> WhatsAppGroup:
        """A new group named ``subject``; its id is the ``to`` of messages into it."""
        if not subject.strip():
            raise ValueError("a group needs a subject")
        response = await self._transport.request(
            "POST", _groups_path(phone), json_body={"subject": subject}
        )
        return WhatsAppGroup.model_validate(response.json())

    async def get(self, phone: str | int, group_id: str) -> WhatsAppGroupDetails:
        response = await self._transport.request("GET", _groups_path(phone, group_id))
        return WhatsAppGroupDetails.model_validate(response.json())

    async def participants(self, phone: str | int, group_id: str) -> builtins.list[str]:
        path = f"{_groups_path(phone, group_id)}/participants"
        response = await self._transport.request("GET", path)
        return WhatsAppGroupParticipants.model_validate(response.json()).participants

    async def remove_participants(
        self, phone: str | int, group_id: str, participants: builtins.list[str]
    ) -> None:
        path = f"{_groups_path(phone, group_id)}/participants"
        await self._transport.request("DELETE", path, json_body={"participants": participants})

    async def leave(self, phone: str | int, group_id: str) -> None:
        """Take the account out of the group (it cannot rejoin)."""
        path = f"{_groups_path(phone, group_id)}/participants/self"
        await self._transport.request("DELETE", path)

    async def get_icon(self, phone: str | int, group_id: str) -> DownloadedMedia:
        path = f"{_groups_path(phone, group_id)}/settings/icon"
        return DownloadedMedia.from_response(await self._transport.request("GET", path))

    async def set_icon(
        self, phone: str | int, group_id: str, image: bytes, *, content_type: str = "image/png"
    ) -> None:
        """Set the group icon (at least 192 px on each edge, at most 5 MB)."""
        path = f"{_groups_path(phone, group_id)}/settings/icon"
        await self._transport.request("PUT", path, data=image, content_type=content_type)

    async def get_profile(self, phone: str | int, group_id: str) -> WhatsAppGroupProfile:
        path = f"{_groups_path(phone, group_id)}/settings/profile"
        response = await self._transport.request("GET", path)
        return WhatsAppGroupProfile.model_validate(response.json())

    async def set_profile(self, phone: str | int, group_id: str, subject: str) -> None:
        path = f"{_groups_path(phone, group_id)}/settings/profile"
        await self._transport.request("PUT", path, json_body={"subject": subject})

    async def create_invite_link(self, phone: str | int, group_id: str) -> str:
        """The group's invite link, created if it has none."""
        path = f"{_groups_path(phone, group_id)}/invites/link"
        response = await self._transport.request("PUT", path)
        return WhatsAppGroupInviteLink.model_validate(response.json()).link

    async def get_invite_link(self, phone: str | int, group_id: str) -> str:
        path = f"{_groups_path(phone, group_id)}/invites/link"
        response = await self._transport.request("GET", path)
        return WhatsAppGroupInviteLink.model_validate(response.json()).link

    async def delete_invite_link(self, phone: str | int, group_id: str) -> None:
        """Invalidate the current invite link."""
        path = f"{_groups_path(phone, group_id)}/invites/link"
        await self._transport.request("DELETE", path)


def _settings_path(phone: str | int, setting: str) -> str:
    return f"{PREFIX}/channels/whatsapp/phone-numbers/{phone_segment(phone)}/settings/{setting}"


class WhatsAppAccountAPI:
    """``api.chat.whatsapp``: the business profile and logo of one of the account's numbers."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def get_profile(self, phone: str | int) -> WhatsAppProfile:
        response = await self._transport.request("GET", _settings_path(phone, "profile"))
        return WhatsAppProfile.model_validate(response.json())

    async def update_profile(self, phone: str | int, update: WhatsAppProfileUpdate) -> None:
        """Change the fields set in ``update``; ``""`` removes a field."""
        await self._transport.request(
            "PATCH",
            _settings_path(phone, "profile"),
            json_body=update.to_payload(),
            idempotent=True,
        )

    async def get_logo(self, phone: str | int) -> DownloadedMedia:
        response = await self._transport.request("GET", _settings_path(phone, "logo"))
        return DownloadedMedia.from_response(response)

    async def set_logo(
        self, phone: str | int, image: bytes, *, content_type: str = "image/png"
    ) -> None:
        """Set the logo (at least 500 px on each edge, at most 5 MB; 640x640 recommended)."""
        await self._transport.request(
            "PUT", _settings_path(phone, "logo"), data=image, content_type=content_type
        )
