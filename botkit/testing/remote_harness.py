"""Flow tests against a deployed bot: a pseudo user writes through tyntecEcho (see
:mod:`botkit.remote`), a fresh one per test.

What tyntecEcho cannot carry is skipped, with the reason, from the step that needs it on:
WhatsApp profile names, locations, letting time pass (``wait``), delivery failures and
states, conversations started from outside (they depend on WhatsApp's 24-hour window), and
OTP codes unless tyntec's side is botkit's sandbox (which lists the codes it sent).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from ..flow import Flow, UserMessage
from ..remote import RemoteBot
from ..tyntec import TyntecClient
from ..tyntec.models import MessageRequest
from .harness import BotMessage

__all__ = ["RemoteHarness", "RemoteSkip", "RemoteTarget"]


class RemoteSkip(Exception):
    """A step that cannot be done through tyntecEcho; the rest of the test is skipped."""


@dataclass(frozen=True)
class RemoteTarget:
    """Where the deployed bot is, and how to reach it through tyntec."""

    bot_url: str
    api_key: str | None = None
    api_url: str | None = None
    token: str | None = None
    account: str = "botkit-echo"


class RemoteHarness:
    """The remote counterpart of :class:`~botkit.testing.harness.FlowHarness`."""

    def __init__(self, flow: Flow, target: RemoteTarget) -> None:
        self.flow = flow
        self.target = target
        self.number = f"+4915{random.randrange(10**8):08d}"  # a fresh pseudo user per test
        self.user = self.number.lstrip("+")
        self.sent: list[BotMessage] = []
        self.bot: RemoteBot | None = None

    async def __aenter__(self) -> Self:
        api = TyntecClient(self.target.api_key, base_url=self.target.api_url)
        self.bot = RemoteBot(
            self.target.bot_url, api=api, number=self.number, account=self.target.account,
            token=self.target.token,
        )  # fmt: skip
        await self.bot.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.bot is not None:
            await self.bot.__aexit__(exc_type, exc, tb)

    def _bot(self) -> RemoteBot:
        assert self.bot is not None
        return self.bot

    def _messages(self, payloads: list[dict[str, Any]]) -> list[BotMessage]:
        messages = [BotMessage(MessageRequest.model_validate(p), None, None) for p in payloads]
        self.sent.extend(messages)
        return messages

    def transcript(self) -> Sequence[BotMessage]:
        return tuple(self.sent)

    def message(self, **content: Any) -> UserMessage:
        kind = (
            "media" if content.get("media") else "location" if content.get("location") else "text"
        )
        return UserMessage(sender=self.user, channel="tyntecEcho", content_type=kind, **content)

    async def say(self, text: str) -> list[BotMessage]:
        return self._messages(await self._bot().say(text))

    async def send(self, message: UserMessage) -> list[BotMessage]:
        if message.media:
            media = message.media
            payloads = await self._bot().send_media(
                str(media.get("type", "image")), str(media["url"]), media.get("caption")
            )
            return self._messages(payloads)
        if message.location:
            raise RemoteSkip("tyntecEcho carries no locations")
        return await self.say(message.text or "")

    async def wait(self, seconds: float) -> list[BotMessage]:
        raise RemoteSkip("time cannot be moved on a deployed bot (wait)")

    async def report(self, status: str) -> list[BotMessage]:
        raise RemoteSkip("delivery states are reported by the user's phone, not by a test")

    def make_undeliverable(self, channel: str) -> None:
        raise RemoteSkip("a channel cannot be made to fail on the real platform")

    async def start(
        self, variables: dict[str, Any] | None = None, *, restart: bool = False
    ) -> list[BotMessage]:
        raise RemoteSkip("conversations started from outside depend on WhatsApp's window")

    async def otp_code(self) -> str | None:
        code = await self._bot().otp_code()
        if code is None:
            raise RemoteSkip("the OTP code went to a phone (only botkit's sandbox lists codes)")
        return code

    async def snapshot(self) -> tuple[str | None, dict[str, Any]]:
        found = await self._bot().conversation()
        if found is None:
            return None, {}
        return found["state"], dict(found["vars"])
