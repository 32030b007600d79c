"""A whole bot on one machine: the engine, the embedded sandbox as tyntec, and the webhook
between them, all on 127.0.0.1. Flow tests run on it; ``botkit chat`` will too.

Messages the engine produces are really sent through the tyntec client to the sandbox, whose
delivery notifications come back over HTTP and are fed to the conversation, as in production.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from ..flow import (
    Conversation,
    Engine,
    Event,
    Flow,
    FlowRuntimeError,
    Outcome,
    Start,
    Timeout,
    UserMessage,
)
from ..flow._source import Position
from ..flow.outgoing import delivery_update, describe, first_part
from ..sandbox import DEFAULT_BOT_NUMBER, Clock, Notifier, Sandbox
from ..tyntec import RetryPolicy, TyntecClient
from ..tyntec.models import MessageRequest, MessageStatus, parse_event

__all__ = ["BotMessage", "FlowHarness"]


@dataclass(frozen=True)
class BotMessage:
    """A message the bot sent, as the user would see it, and where the flow says it."""

    request: MessageRequest
    origin: Position | None
    message_id: str | None

    @property
    def payload(self) -> dict[str, Any]:
        return self.request.to_payload()

    @property
    def channels(self) -> list[str]:
        return list(self.request.channels)

    @property
    def content(self) -> dict[str, Any]:
        """The first channel's part: what the user sees when that channel delivers."""
        return first_part(self.payload)

    def describe(self) -> str:
        """A one-line rendering, e.g. ``template order_status(123456, shipped)``."""
        return describe(self.payload)


class FlowHarness:
    """One user talking to one flow, with the sandbox playing tyntec.

    >>> async def demo(flow: Flow) -> None:
    ...     async with FlowHarness(flow, user="+491701234567", name="Ana") as chat:
    ...         for reply in await chat.say("hi"):
    ...             print(reply.describe())
    """

    def __init__(
        self,
        flow: Flow,
        *,
        user: str = "+491701234567",
        name: str | None = None,
        channel: str = "whatsapp",
        account: str | None = None,
    ) -> None:
        self.flow = flow
        self.user = user.lstrip("+")
        self.name = name
        self.channel = channel
        # The user writes to the flow's own account when it names one.
        own = (flow.spec.accounts or {}).get(channel)  # type: ignore[call-overload]
        self.account = account or (own[0] if own else DEFAULT_BOT_NUMBER)
        self.clock = Clock()
        self.sandbox = Sandbox(clock=self.clock, notifier=Notifier(retry_delay=0.01))
        self.conversation = Conversation(flow=flow.name, user=self.user)
        self.sent: list[BotMessage] = []
        self._notifications: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._runners: list[web.AppRunner] = []
        self._api: TyntecClient | None = None
        self.engine: Engine | None = None

    async def __aenter__(self) -> Self:
        webhook_url = await self._serve(self._webhook_app())
        self.sandbox.webhook_url = f"{webhook_url}/webhook"
        sandbox_url = await self._serve(self.sandbox.app())
        self._api = TyntecClient(
            api_key="sandbox", base_url=sandbox_url, retry=RetryPolicy(attempts=1)
        )
        await self._api.open()
        self.engine = Engine([self.flow], self._api, clock=self.clock.now)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._api is not None:
            await self._api.close()
        for runner in reversed(self._runners):
            await runner.cleanup()

    async def _serve(self, app: web.Application) -> str:
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runners.append(runner)
        port = runner.addresses[-1][1]  # port 0 asked the OS for a free one; this is it
        return f"http://127.0.0.1:{port}"

    def _webhook_app(self) -> web.Application:
        async def receive(request: web.Request) -> web.Response:
            self._notifications.put_nowait(await request.json())
            return web.Response(status=204)

        app = web.Application()
        app.router.add_post("/webhook", receive)
        return app

    # -- the user's side --------------------------------------------------------------------

    def message(self, **content: Any) -> UserMessage:
        """A UserMessage from this harness's user (text=..., media=..., location=...)."""
        kind = "text"
        if content.get("media") is not None:
            kind = "media"
        elif content.get("location") is not None:
            kind = "location"
        return UserMessage(
            sender=self.user,
            channel=self.channel,
            content_type=kind,
            to=self.account,
            name=self.name,
            **content,
        )

    async def say(self, text: str) -> list[BotMessage]:
        """The user writes ``text``; returns what the bot answered."""
        return await self.send(self.message(text=text))

    async def send(self, message: UserMessage) -> list[BotMessage]:
        """The user sends ``message``; returns what the bot answered."""
        return await self._process(message)

    async def start(
        self, variables: dict[str, Any] | None = None, *, restart: bool = False
    ) -> list[BotMessage]:
        """Start the conversation from outside (as ``botkit start`` does); the bot writes
        first. Returns what it sent."""
        event = Start(dict(variables or {}), self.channel, self.account, restart)
        return await self._process(event)

    async def wait(self, seconds: float) -> list[BotMessage]:
        """Time passes; a timeout due by then fires. Returns what the bot said."""
        self.clock.advance(seconds)
        due = self.conversation.timeout_at
        if due is not None and due <= self.clock.now():
            return await self._process(Timeout(at=due))
        return []

    def otp_code(self) -> str | None:
        """The code of the OTP the conversation waits for, as the sandbox 'sent' it."""
        otp_id = self.conversation.otp_id
        otp = self.sandbox.twofa.otps.get(otp_id) if otp_id else None
        return otp.code if otp else None

    async def snapshot(self) -> tuple[str | None, dict[str, Any]]:
        """The conversation's state and variables."""
        return self.conversation.state, self.conversation.vars

    def make_undeliverable(self, channel: str) -> None:
        """From now on ``channel`` fails for this user."""
        self.sandbox.chat.make_undeliverable(self.user, channel)

    async def report(self, status: str) -> list[BotMessage]:
        """The last bot message was ``seen`` (or ``delivered``, ``failed``) at the user's end."""
        if not self.sent or self.sent[-1].message_id is None:
            raise ValueError("the bot has not sent anything yet")
        message = self.sandbox.chat.messages[self.sent[-1].message_id]
        await self.sandbox.chat.report_status(message, status)
        return await self._drain([])

    # -- the bot's side ---------------------------------------------------------------------

    async def _process(self, event: Event) -> list[BotMessage]:
        replies: list[BotMessage] = []
        await self._handle(event, replies)
        return await self._drain(replies)

    async def _handle(self, event: Event, replies: list[BotMessage]) -> None:
        assert self.engine is not None
        assert self._api is not None
        try:
            outcome = await self.engine.handle(self.conversation, event)
        except FlowRuntimeError:
            # As the server does: the user hears the flow's on_error, the state stays.
            reply = self.engine.error_reply(self.conversation, event)
            if reply is not None:
                await self._send(reply, replies)
            raise
        self.conversation = outcome.conversation
        await self._send(outcome, replies)

    async def _send(self, outcome: Outcome, replies: list[BotMessage]) -> None:
        assert self._api is not None
        for request, origin in zip(outcome.outbox, outcome.origins, strict=True):
            accepted = await self._api.chat.send(request)
            message = BotMessage(request, origin, accepted.message_id)
            self.sent.append(message)
            replies.append(message)

    async def _drain(self, replies: list[BotMessage]) -> list[BotMessage]:
        """Feed the sandbox's notifications back until nothing more happens."""
        while True:
            await self.sandbox.idle()
            if self._notifications.empty():
                return replies
            while not self._notifications.empty():
                event = self._event(self._notifications.get_nowait())
                if event is not None:
                    await self._handle(event, replies)

    def _event(self, payload: dict[str, Any]) -> Event | None:
        notification = parse_event(payload)
        if not isinstance(notification, MessageStatus):
            return None
        found = delivery_update(notification)
        if found is None or found[:2] != (self.flow.name, self.user):
            return None
        return found[2]

    def transcript(self) -> Sequence[BotMessage]:
        return tuple(self.sent)
