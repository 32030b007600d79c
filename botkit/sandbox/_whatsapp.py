"""The sandbox's WhatsApp account management: groups, invite links, profile and logo."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ._clock import Clock
from ._problems import constraint_violation, problem

__all__ = ["WhatsAppSandbox"]

PREFIX = "/chat-api/v2/channels/whatsapp/phone-numbers/{phone}"
GROUP = PREFIX + "/groups/{group_id}"
VERTICALS = frozenset(
    {
        "Automotive", "Beauty, Spa and Salon", "Clothing and Apparel", "Education",
        "Entertainment", "Event Planning and Service", "Finance and Banking",
        "Food and Grocery", "Public Service", "Hotel and Lodging", "Medical and Health",
        "Non-profit", "Professional Services", "Shopping and Retail",
        "Travel and Transportation", "Restaurant", "Other",
    }
)  # fmt: skip
_PROFILE_FIELDS = ("address", "description", "email", "websites", "vertical", "about")


@dataclass
class Group:
    group_id: str
    subject: str
    creator: str
    creation_time: int
    participants: list[str]
    icon: tuple[bytes, str] | None = None
    invite_link: str | None = None

    def details(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "creationTime": self.creation_time,
            "creator": self.creator,
            "admins": [self.creator],
            "participants": self.participants,
        }


@dataclass
class Account:
    """One WhatsApp number of the sandbox account."""

    groups: dict[str, Group] = field(default_factory=dict)
    profile: dict[str, Any] = field(
        default_factory=lambda: {"about": "Hey there! I am using WhatsApp."}
    )
    logo: tuple[bytes, str] | None = None


class WhatsAppSandbox:
    """Answers the WhatsApp group and settings endpoints for any numeric phone number.

    With ``numbers`` given, only those are the account's; others get 403 as at tyntec.
    """

    def __init__(self, clock: Clock, numbers: frozenset[str] | None = None) -> None:
        self.clock = clock
        self.numbers = numbers
        self.accounts: dict[str, Account] = {}

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(PREFIX + "/groups", self.list_groups),
            web.post(PREFIX + "/groups", self.create_group),
            web.get(GROUP, self.get_group),
            web.get(GROUP + "/participants", self.get_participants),
            web.delete(GROUP + "/participants", self.remove_participants),
            web.delete(GROUP + "/participants/self", self.leave_group),
            web.get(GROUP + "/settings/icon", self.get_icon),
            web.put(GROUP + "/settings/icon", self.put_icon),
            web.get(GROUP + "/settings/profile", self.get_group_profile),
            web.put(GROUP + "/settings/profile", self.put_group_profile),
            web.put(GROUP + "/invites/link", self.create_invite_link),
            web.get(GROUP + "/invites/link", self.get_invite_link),
            web.delete(GROUP + "/invites/link", self.delete_invite_link),
            web.get(PREFIX + "/settings/profile", self.get_profile),
            web.patch(PREFIX + "/settings/profile", self.patch_profile),
            web.get(PREFIX + "/settings/logo", self.get_logo),
            web.put(PREFIX + "/settings/logo", self.put_logo),
        ]

    def _account(self, request: web.Request) -> Account | web.Response:
        phone = request.match_info["phone"]
        if not phone.isdigit():
            return problem(404, "Phone number unknown")
        if self.numbers is not None and phone not in self.numbers:
            return problem(403, "Forbidden", "The number is not assigned to your account")
        return self.accounts.setdefault(phone, Account())

    def _group(self, request: web.Request) -> Group | web.Response:
        account = self._account(request)
        if isinstance(account, web.Response):
            return account
        group = account.groups.get(request.match_info["group_id"])
        return group if group is not None else problem(404, "Group id unknown")

    async def list_groups(self, request: web.Request) -> web.StreamResponse:
        account = self._account(request)
        if isinstance(account, web.Response):
            return account
        groups = account.groups.values()
        return web.json_response(
            [{"groupId": g.group_id, "creationTime": g.creation_time} for g in groups]
        )

    async def create_group(self, request: web.Request) -> web.StreamResponse:
        account = self._account(request)
        if isinstance(account, web.Response):
            return account
        body = await _json(request)
        subject = body.get("subject") if isinstance(body, dict) else None
        if not isinstance(subject, str) or not subject.strip():
            return constraint_violation(
                [{"field": "validate.request.subject", "message": "must not be empty"}]
            )
        phone = request.match_info["phone"]
        created = int(self.clock.now())
        group_id = f"{phone}-{created}{len(account.groups):03d}"
        account.groups[group_id] = Group(group_id, subject, phone, created, [phone])
        return web.json_response({"groupId": group_id, "creationTime": created})

    async def get_group(self, request: web.Request) -> web.StreamResponse:
        group = self._group(request)
        return group if isinstance(group, web.Response) else web.json_response(group.details())

    async def get_participants(self, request: web.Request) -> web.StreamResponse:
        group = self._group(request)
        if isinstance(group, web.Response):
            return group
        return web.json_response({"participants": group.participants})

    async def remove_participants(self, request: web.Request) -> web.StreamResponse:
        group = self._group(request)
        if isinstance(group, web.Response):
            return group
        body = await _json(request)
        listed = body.get("participants") if isinstance(body, dict) else None
        if not isinstance(listed, list) or not listed:
            return constraint_violation(
                [{"field": "validate.request.participants", "message": "must not be empty"}]
            )
        removed = {str(p) for p in listed}
        group.participants = [p for p in group.participants if p not in removed]
        return web.Response(status=200)

    async def leave_group(self, request: web.Request) -> web.StreamResponse:
        account = self._account(request)
        if isinstance(account, web.Response):
            return account
        if account.groups.pop(request.match_info["group_id"], None) is None:
            return problem(404, "Group id unknown")
        return web.Response(status=200)

    async def get_icon(self, request: web.Request) -> web.StreamResponse:
        group = self._group(request)
        if isinstance(group, web.Response):
            return group
        if group.icon is None:
            return problem(404, "Not Found", "The group has no icon")
        return web.Response(body=group.icon[0], content_type=group.icon[1])

    async def put_icon(self, request: web.Request) -> web.StreamResponse:
        group = self._group(request)
        if isinstance(group, web.Response):
            return group
        image = await _image(request, "icon")
        if isinstance(image, web.Response):
            return image
        group.icon = image
        return web.Response(status=202)

    async def get_group_profile(self, request: web.Request) -> web.StreamResponse:
        group = self._group(request)
        if isinstance(group, web.Response):
            return group
        return web.json_response({"subject": group.subject})

    async def put_group_profile(self, request: web.Request) -> web.StreamResponse:
        group = self._group(request)
        if isinstance(group, web.Response):
            return group
        body = await _json(request)
        subject = body.get("subject") if isinstance(body, dict) else None
        if not isinstance(subject, str) or not subject.strip():
            return constraint_violation(
                [{"field": "validate.request.subject", "message": "must not be empty"}]
            )
        group.subject = subject
        return web.Response(status=202)

    async def create_invite_link(self, request: web.Request) -> web.StreamResponse:
        group = self._group(request)
        if isinstance(group, web.Response):
            return group
        if group.invite_link is None:
            group.invite_link = f"https://chat.whatsapp.com/{secrets.token_urlsafe(16)}"
        return web.json_response({"link": group.invite_link})

    async def get_invite_link(self, request: web.Request) -> web.StreamResponse:
        group = self._group(request)
        if isinstance(group, web.Response):
            return group
        if group.invite_link is None:
            return problem(404, "Not Found", "The group has no invite link")
        return web.json_response({"link": group.invite_link})

    async def delete_invite_link(self, request: web.Request) -> web.StreamResponse:
        group = self._group(request)
        if isinstance(group, web.Response):
            return group
        group.invite_link = None
        return web.Response(status=200)

    async def get_profile(self, request: web.Request) -> web.StreamResponse:
        account = self._account(request)
        if isinstance(account, web.Response):
            return account
        return web.json_response(account.profile)

    async def patch_profile(self, request: web.Request) -> web.StreamResponse:
        account = self._account(request)
        if isinstance(account, web.Response):
            return account
        body = await _json(request)
        error = _profile_error(body)
        if error:
            return problem(400, "Updating profile failed", error, code="1009")
        assert isinstance(body, dict)
        for key, value in body.items():
            if value == "":
                account.profile.pop(key, None)  # "" removes the field
            else:
                account.profile[key] = value
        return web.Response(status=204)

    async def get_logo(self, request: web.Request) -> web.StreamResponse:
        account = self._account(request)
        if isinstance(account, web.Response):
            return account
        if account.logo is None:
            return problem(404, "Not Found", "No logo set")
        return web.Response(body=account.logo[0], content_type=account.logo[1])

    async def put_logo(self, request: web.Request) -> web.StreamResponse:
        account = self._account(request)
        if isinstance(account, web.Response):
            return account
        image = await _image(request, "logo")
        if isinstance(image, web.Response):
            return image
        account.logo = image
        return web.Response(status=204)


def _profile_error(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "the profile must be a JSON object"
    unknown = sorted(set(body) - set(_PROFILE_FIELDS))
    if unknown:
        return f"unknown profile field(s): {', '.join(unknown)}"
    for name in ("address", "description", "email", "vertical", "about"):
        if body.get(name) is not None and not isinstance(body[name], str):
            return f"{name} must be a string"
    vertical = body.get("vertical")
    if vertical not in (None, "") and vertical not in VERTICALS:
        return f"unknown vertical {vertical!r}"
    websites = body.get("websites")
    if websites is not None and (
        not isinstance(websites, list)
        or len(websites) > 2
        or not all(isinstance(site, str) for site in websites)
    ):
        return "websites must be a list of at most 2 URLs"
    return None


async def _json(request: web.Request) -> Any:
    try:
        return await request.json(loads=json.loads)
    except ValueError:
        return None


async def _image(request: web.Request, what: str) -> tuple[bytes, str] | web.Response:
    content = await request.read()
    if not content or not request.content_type.startswith("image/"):
        return constraint_violation(
            [{"field": f"validate.request.{what}", "message": "must be a non-empty image"}]
        )
    if len(content) > 5 * 1024 * 1024:
        return constraint_violation(
            [{"field": f"validate.request.{what}", "message": "must not exceed 5 MB"}]
        )
    return content, request.content_type
