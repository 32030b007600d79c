"""WhatsApp groups, invite links, profile and logo through the client, against the sandbox."""

from __future__ import annotations

import pytest

from botkit.sandbox import Sandbox
from botkit.tyntec import BadRequestError, ForbiddenError, NotFoundError, TyntecClient
from botkit.tyntec.models import WhatsAppProfileUpdate

from .conftest import FAST_RETRY

PHONE = "+49 30 123456"
ICON = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def test_group_lifecycle(api: TyntecClient) -> None:
    created = await api.chat.groups.create(PHONE, "Book club")
    assert created.group_id
    group = created.group_id
    assert [g.group_id for g in await api.chat.groups.list(PHONE)] == [group]

    details = await api.chat.groups.get(PHONE, group)
    assert (details.subject, details.creator) == ("Book club", "4930123456")
    assert await api.chat.groups.participants(PHONE, group) == ["4930123456"]

    await api.chat.groups.set_profile(PHONE, group, "Book club (new)")
    assert (await api.chat.groups.get_profile(PHONE, group)).subject == "Book club (new)"

    await api.chat.groups.set_icon(PHONE, group, ICON)
    icon = await api.chat.groups.get_icon(PHONE, group)
    assert (icon.content, icon.content_type) == (ICON, "image/png")

    link = await api.chat.groups.create_invite_link(PHONE, group)
    assert link.startswith("https://chat.whatsapp.com/")
    assert await api.chat.groups.create_invite_link(PHONE, group) == link  # only if necessary
    assert await api.chat.groups.get_invite_link(PHONE, group) == link
    await api.chat.groups.delete_invite_link(PHONE, group)
    with pytest.raises(NotFoundError):
        await api.chat.groups.get_invite_link(PHONE, group)

    await api.chat.groups.remove_participants(PHONE, group, ["4930123456"])
    assert await api.chat.groups.participants(PHONE, group) == []

    await api.chat.groups.leave(PHONE, group)
    with pytest.raises(NotFoundError):
        await api.chat.groups.get(PHONE, group)
    assert await api.chat.groups.list(PHONE) == []


async def test_group_errors(api: TyntecClient) -> None:
    with pytest.raises(NotFoundError):
        await api.chat.groups.get(PHONE, "4930123456-0")
    with pytest.raises(ValueError, match="subject"):
        await api.chat.groups.create(PHONE, "  ")
    group = (await api.chat.groups.create(PHONE, "x")).group_id
    assert group
    with pytest.raises(BadRequestError) as caught:
        await api.chat.groups.set_icon(PHONE, group, b"", content_type="image/png")
    assert caught.value.violations[0].field == "validate.request.icon"
    with pytest.raises(NotFoundError):
        await api.chat.groups.get_icon(PHONE, group)


async def test_numbers_not_assigned_are_forbidden(aiohttp_server, webhook) -> None:  # type: ignore[no-untyped-def]
    sandbox = Sandbox(webhook_url=webhook.url, numbers=frozenset({"4930123456"}))
    server = await aiohttp_server(sandbox.app())
    url = str(server.make_url("")).rstrip("/")
    async with TyntecClient(api_key="sandbox", base_url=url, retry=FAST_RETRY) as api:
        assert await api.chat.groups.list(PHONE) == []
        with pytest.raises(ForbiddenError):
            await api.chat.groups.list("4930999999")


async def test_profile_and_logo(api: TyntecClient) -> None:
    profile = await api.chat.whatsapp.get_profile(PHONE)
    assert profile.about == "Hey there! I am using WhatsApp."

    await api.chat.whatsapp.update_profile(
        PHONE,
        WhatsAppProfileUpdate(
            description="Support bot", vertical="Professional Services", about=""
        ),
    )
    profile = await api.chat.whatsapp.get_profile(PHONE)
    assert profile.description == "Support bot"
    assert profile.vertical == "Professional Services"
    assert profile.about is None  # "" removed it

    with pytest.raises(BadRequestError) as caught:
        await api.chat.whatsapp.update_profile(PHONE, WhatsAppProfileUpdate(vertical="Spaceships"))
    assert caught.value.problem.title == "Updating profile failed"
    assert caught.value.problem.code == "1009"

    with pytest.raises(NotFoundError):
        await api.chat.whatsapp.get_logo(PHONE)
    await api.chat.whatsapp.set_logo(PHONE, ICON)
    logo = await api.chat.whatsapp.get_logo(PHONE)
    assert logo.content == ICON


async def test_phone_path_must_be_a_number(api: TyntecClient) -> None:
    with pytest.raises(ValueError, match="not a phone number"):
        await api.chat.groups.list("not-a-number")
