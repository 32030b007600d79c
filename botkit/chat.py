"""A bot and its user on one machine: ``botkit chat``'s engine room.

It runs the real server (store, inbox, engine, outbox, timers) against the embedded sandbox,
the same code path as ``botkit serve --sandbox``, and plays the user through the sandbox, so
what you see in the terminal is what a WhatsApp user would get.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from .flow import Conversation
from .flow.outgoing import describe
from .sandbox import DEFAULT_BOT_NUMBER, Clock, Notifier, Sandbox
from .server import BotServer
from .server.runner import find_flows
from .server.site import BotSite
from .store import HistoryEntry, SQLiteStore
from .tyntec import RetryPolicy, TyntecClient

__all__ = ["BotLine", "ChatSession", "render_message"]


@dataclass(frozen=True)
class BotLine:
    """A message the bot sent, rendered for a terminal."""

    text: str
    message_id: str
    #: The channel it reached the user on (the first of its chain if it reached none).
    channel: str
    #: False when tyntec (the sandbox) reported it failed: the user never saw it.
    delivered: bool = True


def render_message(payload: dict[str, Any]) -> str:
    """How a person would see a message: text as it is, templates with their parameters,
    media as a labelled link, locations as coordinates and name. The same words the history
    and the flow tests use, so a transcript reads alike wherever it is shown."""
    return describe(payload)


class ChatSession:
    """One person talking to the flows in ``paths`` as the user ``number``."""

    def __init__(
        self,
        paths: list[Path],
        *,
        number: str = "+491701234567",
        name: str | None = None,
        channel: str = "whatsapp",
        db: Path | None = None,
    ) -> None:
        self.flows = find_flows(paths)
        self.number = "+" + number.lstrip("+")
        self.user = self.number.lstrip("+")
        self.name = name
        self.channel = channel
        # The user writes to the first flow's own account when it names one.
        own = (self.flows[0].spec.accounts or {}).get(channel)  # type: ignore[call-overload]
        self.account = own[0] if own else DEFAULT_BOT_NUMBER
        self.clock = Clock()
        self._temporary = None if db else tempfile.TemporaryDirectory(prefix="botkit-chat-")
        self.db = db or Path(self._temporary.name) / "chat.db"  # type: ignore[union-attr]
        self.sandbox = Sandbox(clock=self.clock, notifier=Notifier(retry_delay=0.05))
        self.server: BotServer | None = None
        self._runners: list[web.AppRunner] = []
        self._seen = 0

    async def __aenter__(self) -> Self:
        try:
            sandbox_url = await self._serve(self.sandbox.app())
            api = TyntecClient("sandbox", base_url=sandbox_url, retry=RetryPolicy(attempts=2))
            self.server = BotServer(
                self.flows, SQLiteStore(self.db, durability="normal"), api,
                clock=self.clock.now, send_retry_delay=0.1,
            )  # fmt: skip
            bot_url = await self._serve(self.server.app(), bot=self.server)
        except BaseException:  # a database that cannot be opened, say: stop what started
            await self.__aexit__(None, None, None)
            raise
        self.sandbox.webhook_url = f"{bot_url}/webhook"
        self.sandbox.sms_webhook_url = f"{bot_url}/webhook/sms"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for runner in reversed(self._runners):
            await runner.cleanup()
        if self._temporary is not None:
            self._temporary.cleanup()

    async def _serve(self, app: web.Application, *, bot: BotServer | None = None) -> str:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        self._runners.append(runner)
        # A bot is served as `botkit serve` serves it: its webhooks on botkit's front.
        site = BotSite(runner, bot, "127.0.0.1", 0) if bot else web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{site.port}"

    # -- the user's side ----------------------------------------------------------------

    async def say(self, text: str) -> list[BotLine]:
        return await self._user(text=text)

    async def send_media(self, kind: str, url: str, caption: str | None = None) -> list[BotLine]:
        media = {"type": kind, "url": url, **({"caption": caption} if caption else {})}
        return await self._user(media=media)

    async def send_location(
        self, latitude: float, longitude: float, name: str | None = None
    ) -> list[BotLine]:
        location: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
        if name:
            location["name"] = name
        return await self._user(location=location)

    async def _user(self, **content: Any) -> list[BotLine]:
        await self.sandbox.user_says(
            self.number, to=self.account, channel=self.channel, name=self.name, **content
        )
        return await self._replies()

    async def wait(self, seconds: float) -> list[BotLine]:
        """Time passes: timeouts due by then fire now."""
        assert self.server is not None
        self.clock.advance(seconds)
        await self.server.timers.fire_due()
        return await self._replies()

    def otp_code(self) -> str | None:
        """The last OTP code the sandbox 'sent' to this user."""
        codes = [o.code for o in self.sandbox.twofa.otps.values() if o.number == self.number]
        return codes[-1] if codes else None

    async def report(self, status: str) -> list[BotLine]:
        """The bot's last message reached the state ``status`` (delivered, seen, failed)."""
        sent = self._sent_to_user()
        if not sent:
            raise ValueError("the bot has not sent anything yet")
        await self.sandbox.chat.report_status(sent[-1], status)
        return await self._replies()

    def make_undeliverable(self, channel: str) -> None:
        """From now on ``channel`` cannot deliver to this user: the sandbox fails it (and
        goes on down a fallback chain), as tyntec does for a number without WhatsApp."""
        self.sandbox.chat.make_undeliverable(self.number, channel)

    async def conversation(self) -> Conversation | None:
        assert self.server is not None
        found = await self.server.store.conversations(user=self.user)
        return found[0] if found else None

    async def history(self) -> list[HistoryEntry]:
        conversation = await self.conversation()
        if conversation is None or self.server is None:
            return []
        return await self.server.store.history((conversation.flow, conversation.user))

    async def reset(self) -> bool:
        conversation = await self.conversation()
        if conversation is None or self.server is None:
            return False
        return await self.server.store.reset((conversation.flow, conversation.user))

    # -- the bot's side -------------------------------------------------------------------

    def _sent_to_user(self) -> list[Any]:
        return [m for m in self.sandbox.chat.messages.values() if m.to.lstrip("+") == self.user]

    async def _replies(self) -> list[BotLine]:
        await self.settle()
        sent = self._sent_to_user()
        new, self._seen = sent[self._seen :], len(sent)
        return [self._line(message) for message in new]

    @staticmethod
    def _line(message: Any) -> BotLine:
        status = message.last_status or {}
        return BotLine(
            render_message({"messageId": message.message_id, **message.request}),
            message.message_id,
            status.get("channel") or message.channels[0],
            delivered=status.get("event") != "MessageStatus::failed",
        )

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until the bot has nothing left to do: events processed, messages sent,
        notifications delivered."""
        assert self.server is not None
        server = self.server
        async with asyncio.timeout(timeout):
            quiet = 0
            while quiet < 2:
                await self.sandbox.idle()
                await server.processor.workers.idle()
                await server.sender.idle()
                stats = await server.store.stats()
                busy = server.processor.workers.busy or server.sender.busy
                if stats.inbox_pending or busy or self.sandbox.notifier.busy:
                    quiet = 0
                else:
                    quiet += 1
                await asyncio.sleep(0.01)
