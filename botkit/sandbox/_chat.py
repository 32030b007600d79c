"""The sandbox's Chat API v2: messages, their delivery notifications, tyntecEcho, media."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ._clock import Clock, iso
from ._notifier import Notifier
from ._problems import constraint_violation, problem
from ._validation import validate_message_request

__all__ = ["ChatSandbox", "SentMessage", "echo_content"]

log = logging.getLogger("botkit.sandbox")
PREFIX = "/chat-api/v2"


@dataclass
class SentMessage:
    """A message the bot sent, and what the sandbox has reported about it."""

    message_id: str
    request: dict[str, Any]
    accepted_at: str
    history: list[dict[str, Any]] = field(default_factory=list)
    last_status: dict[str, Any] | None = None

    @property
    def to(self) -> str:
        return str(self.request.get("to", ""))

    @property
    def channels(self) -> list[str]:
        return list(self.request.get("channels", []))

    def part(self, channel: str) -> dict[str, Any]:
        """The content the channel delivers: its own part, over the default content."""
        merged = dict(self.request.get("defaultContent") or {})
        merged.update(self.request.get(channel) or {})
        return merged

    @property
    def user_context(self) -> str | None:
        context = self.request.get("context") or {}
        value = context.get("userContext")
        return str(value) if value is not None else None

    @property
    def callback_url(self) -> str | None:
        overrides = self.request.get("overrides") or {}
        value = overrides.get("notificationCallbackUrl")
        return str(value) if value else None


def echo_content(part: dict[str, Any]) -> dict[str, Any]:
    """What tyntecEcho sends back for a channel part: text, url and media as they are,
    templates formatted as ``TemplateId[..] LanguagePolicy[..] LanguageCode[..] Parameter<N>[..]``.

    >>> echo_content({"contentType": "template", "template": {"templateId": "t",
    ...     "language": {"policy": "deterministic", "code": "en"},
    ...     "parameters": [{"default": "Ana"}]}})["text"]
    'TemplateId[t] LanguagePolicy[deterministic] LanguageCode[en] Parameter0[Ana]'
    """
    content_type = part.get("contentType")
    if content_type == "template":
        template = part.get("template") or {}
        language = template.get("language") or {}
        words = [
            f"TemplateId[{template.get('templateId', '')}]",
            f"LanguagePolicy[{language.get('policy', '')}]",
            f"LanguageCode[{language.get('code', '')}]",
        ]
        for index, parameter in enumerate(template.get("parameters") or []):
            words.append(f"Parameter{index}[{parameter.get('default', '')}]")
        return {"contentType": "text", "text": " ".join(words)}
    if content_type == "media":
        return {"contentType": "media", "media": dict(part.get("media") or {})}
    if content_type == "url":
        return {"contentType": "url", "url": part.get("url")}
    return {"contentType": "text", "text": part.get("text")}


class ChatSandbox:
    """Accepts messages like tyntec's Chat API and reports their delivery to the webhook.

    Every channel delivers unless a recipient is marked undeliverable on it
    (:meth:`make_undeliverable`), in which case the next channel of the chain is tried, as
    tyntec does, with a ``MessageStatus::channelFailed`` in between.
    """

    def __init__(self, clock: Clock, notifier: Notifier, webhook_url: str | None) -> None:
        self.clock = clock
        self.notifier = notifier
        self.webhook_url = webhook_url
        self.messages: dict[str, SentMessage] = {}
        self.media: dict[str, tuple[bytes, str]] = {}
        self.inbound: list[dict[str, Any]] = []
        self.send_intermediate_events = False
        # A misconfigured platform for loop tests: every tyntecEcho message comes back.
        self.echo_everything = False
        self._undeliverable: set[tuple[str, str]] = set()

    def make_undeliverable(self, to: str, channel: str) -> None:
        """Messages to ``to`` on ``channel`` fail from now on."""
        self._undeliverable.add((_digits(to), channel))

    def add_media(self, content: bytes, content_type: str) -> str:
        """Store media (as if a user had sent it) and return its media id."""
        media_id = str(uuid.uuid4())
        self.media[media_id] = (content, content_type)
        return media_id

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(f"{PREFIX}/messages", self.send),
            web.get(f"{PREFIX}/messages/{{message_id}}", self.get_message),
            web.get(f"{PREFIX}/messages/{{message_id}}/history", self.get_history),
            web.get(f"{PREFIX}/messages/{{message_id}}/status", self.get_status),
            web.get(f"{PREFIX}/media/{{media_id}}", self.get_media),
        ]

    async def send(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json(loads=json.loads)
        except ValueError as exc:
            return problem(400, "Data given was not parseable", str(exc))
        violations = validate_message_request(body)
        if violations:
            return constraint_violation(violations)
        now = self.clock.now()
        message = SentMessage(str(uuid.uuid4()), body, iso(now))
        message.history.append(self._history_item(message.channels[0], "accepted"))
        self.messages[message.message_id] = message
        log.info(
            "sandbox: message %s to %s on %s", message.message_id, message.to, message.channels
        )
        self.notifier.spawn(self._deliver(message))
        return web.json_response(
            {"messageId": message.message_id, "acceptedAt": message.accepted_at}, status=202
        )

    async def get_message(self, request: web.Request) -> web.StreamResponse:
        message = self.messages.get(request.match_info["message_id"])
        if message is None:
            return problem(404, "Not Found", "The message id does not exist")
        return web.json_response({"messageId": message.message_id, **message.request})

    async def get_history(self, request: web.Request) -> web.StreamResponse:
        message = self.messages.get(request.match_info["message_id"])
        if message is None:
            return problem(404, "Not Found", "The message id does not exist")
        body: dict[str, Any] = {"messageId": message.message_id, "history": message.history}
        if message.user_context is not None:
            body["userContext"] = message.user_context
        return web.json_response(body)

    async def get_status(self, request: web.Request) -> web.StreamResponse:
        message = self.messages.get(request.match_info["message_id"])
        if message is None:
            return problem(404, "Not Found", "The message id does not exist")
        status = message.last_status or self._status_event(message, "accepted", message.channels[0])
        return web.json_response(status)

    async def get_media(self, request: web.Request) -> web.StreamResponse:
        stored = self.media.get(request.match_info["media_id"])
        if stored is None:
            return problem(404, "Not Found", "The media does not exist")
        content, content_type = stored
        return web.Response(body=content, content_type=content_type)

    async def report_status(self, message: SentMessage, status: str) -> None:
        """Send a later notification for a message (the user saw it, or it failed)."""
        channel = (message.last_status or {}).get("channel") or message.channels[0]
        await self._notify_status(message, status, channel)

    async def _deliver(self, message: SentMessage) -> None:
        if self.send_intermediate_events:
            await self._notify_status(message, "accepted", message.channels[0])
        for channel in message.channels:
            message.history.append(self._history_item(channel, "dispatched"))
            if (_digits(message.to), channel) in self._undeliverable:
                details = {
                    "code": f"{channel}::error::noValidContact",
                    "message": f"No valid contact for msisdn {message.to}",
                }
                message.history.append(self._history_item(channel, "dispatching_failed", details))
                await self._notify_status(message, "channelFailed", channel, details)
                continue
            message.history.append(self._history_item(channel, "success"))
            await self._notify_status(message, "delivered", channel)
            part = message.part(channel)
            if channel == "tyntecEcho" and (part.get("replyBack") or self.echo_everything):
                await self._echo(message, part)
            return
        details = {
            "code": "tyntec::error:noFurtherChannelAvailable",
            "message": f"No further channel after Channel[{message.channels[-1]}] available",
        }
        message.history.append(self._history_item(message.channels[-1], "failed", details))
        await self._notify_status(message, "failed", message.channels[-1], details)

    async def _echo(self, message: SentMessage, part: dict[str, Any]) -> None:
        if self.webhook_url is None:
            return
        echo = {
            "event": "MoMessage",
            "messageId": message.message_id,  # tyntecEcho reuses the request's id
            "channel": "tyntecEcho",
            "from": message.to,
            "to": part.get("from"),
            "timestamp": iso(self.clock.now()),
            "content": echo_content(part),
        }
        await self.notifier.post(self.webhook_url, echo)

    async def _notify_status(
        self,
        message: SentMessage,
        status: str,
        channel: str,
        details: dict[str, str] | None = None,
    ) -> None:
        event = self._status_event(message, status, channel, details)
        message.last_status = event
        target = message.callback_url or self.webhook_url
        if target is not None:
            await self.notifier.post(target, event)

    def _status_event(
        self,
        message: SentMessage,
        status: str,
        channel: str,
        details: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        event: dict[str, Any] = {
            "event": f"MessageStatus::{status}",
            "messageId": message.message_id,
            "channel": channel,
            "deliveryChannel": channel,
            "status": status,
            "timestamp": iso(self.clock.now()),
            "from": message.to,
        }
        if message.user_context is not None:
            event["userContext"] = message.user_context
        if details:
            event["details"] = details
        return event

    def _history_item(
        self, channel: str, state: str, details: dict[str, str] | None = None
    ) -> dict[str, Any]:
        item: dict[str, Any] = {
            "deliveryChannel": channel,
            "channel": channel,
            "happendAt": iso(self.clock.now()),
            "state": state,
        }
        if details:
            item["details"] = details
        return item


def _digits(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())
