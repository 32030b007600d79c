"""The embedded tyntec sandbox: one aiohttp app answering the Chat, 2FA, Messaging and NIS
APIs as the reference describes them, posting notifications to the bot's webhook.

>>> sandbox = Sandbox(api_key="sandbox", webhook_url="http://127.0.0.1:8080/webhook")
>>> app = sandbox.app()  # serve it, then point TyntecClient(base_url=...) at it
"""

from __future__ import annotations

import difflib
import logging
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import phonenumbers
from aiohttp import web

from ._chat import ChatSandbox
from ._clock import Clock, iso
from ._control import control_routes
from ._faults import FaultTable
from ._messaging import MessagingSandbox, NumberInformationSandbox
from ._notifier import Delivery, Notifier
from ._problems import problem, twofa_error
from ._twofa import TwoFactorSandbox
from ._whatsapp import WhatsAppSandbox

__all__ = ["DEFAULT_API_KEY", "DEFAULT_BOT_NUMBER", "Sandbox"]

log = logging.getLogger("botkit.sandbox")

DEFAULT_API_KEY = "sandbox"
#: The account number a simulated user writes to when none is given.
DEFAULT_BOT_NUMBER = "4930123456"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_MEDIA_PLACEHOLDER = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)  # a 1x1 PNG, served for media a simulated user "sent" by URL


class Sandbox:
    """A stand-in for tyntec that runs in-process or as ``botkit sandbox``.

    ``webhook_url`` receives Chat API notifications (MessageStatus, MoMessage, group
    events); ``sms_webhook_url`` receives the Messaging API's inbound SMS. Requests must carry
    ``apikey: <api_key>``. ``clock`` can be replaced, and advanced, to reach OTP expiry.
    """

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        webhook_url: str | None = None,
        sms_webhook_url: str | None = None,
        numbers: frozenset[str] | None = None,
        clock: Clock | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self._api_key = api_key
        self.clock = clock or Clock()
        self.notifier = notifier or Notifier()
        self.faults = FaultTable()
        self.sms_webhook_url = sms_webhook_url
        self.chat = ChatSandbox(self.clock, self.notifier, webhook_url)
        self.whatsapp = WhatsAppSandbox(self.clock, numbers)
        self.twofa = TwoFactorSandbox(self.clock)
        self.messaging = MessagingSandbox(self.clock, self.notifier)
        self.nis = NumberInformationSandbox(self.clock, self.notifier)

    @property
    def webhook_url(self) -> str | None:
        return self.chat.webhook_url

    @webhook_url.setter
    def webhook_url(self, url: str | None) -> None:
        self.chat.webhook_url = url

    def app(self) -> web.Application:
        """The aiohttp application; its start and cleanup open and close the notifier."""
        app = web.Application(middlewares=[_problem_middleware, self._auth, self.faults.middleware])
        app.add_routes(self.chat.routes())
        app.add_routes(self.whatsapp.routes())
        app.add_routes(self.twofa.routes())
        app.add_routes(self.messaging.routes())
        app.add_routes(self.nis.routes())
        app.add_routes(control_routes(self))
        app.cleanup_ctx.append(self._notifier_context)
        return app

    async def _notifier_context(self, app: web.Application) -> AsyncIterator[None]:
        await self.notifier.start()
        yield
        await self.notifier.stop()

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/sandbox"):
            return await handler(request)
        # The 2FA API names its header apiKey, the others apikey; HTTP header names are
        # case-insensitive, so one lookup serves both.
        given = request.headers.get("apikey", "")
        if secrets.compare_digest(given.encode(), self._api_key.encode()):
            return await handler(request)
        if request.path.startswith("/2fa/"):
            return twofa_error(401, "UNAUTHORIZED", "missing or invalid apiKey header")
        return problem(401, "Unauthorized", "missing or invalid apikey header")

    async def idle(self) -> None:
        """Wait until all notifications scheduled so far have been delivered."""
        await self.notifier.idle()

    async def user_says(
        self,
        sender: str,
        *,
        text: str | None = None,
        url: str | None = None,
        media: dict[str, Any] | None = None,
        location: dict[str, Any] | None = None,
        to: str = DEFAULT_BOT_NUMBER,
        channel: str = "whatsapp",
        name: str | None = None,
        api: str = "chat",
    ) -> Delivery:
        """Play a user: post what they 'sent' to the bot's webhook and return the delivery.

        ``api="messaging"`` sends an inbound SMS of the Messaging API to ``sms_webhook_url``
        instead of a Chat API MoMessage.
        """
        if api == "messaging":
            return await self._inbound_sms(sender, to, text)
        if channel not in ("whatsapp", "sms", "tyntecEcho"):
            raise ValueError(f"unknown channel {channel!r}")
        if self.chat.webhook_url is None:
            raise ValueError("the sandbox has no webhook URL to deliver to")
        message: dict[str, Any] = {
            "event": "MoMessage",
            "messageId": str(uuid.uuid4()),
            "channel": channel,
            "from": sender.lstrip("+"),
            "to": to,
            "timestamp": iso(self.clock.now()),
            "content": self._content(text, url, media, location),
        }
        if channel == "whatsapp":
            message["whatsapp"] = {"senderName": name} if name else {}
        self.chat.inbound.append(message)
        return await self.notifier.post(self.chat.webhook_url, message)

    def _content(
        self,
        text: str | None,
        url: str | None,
        media: dict[str, Any] | None,
        location: dict[str, Any] | None,
    ) -> dict[str, Any]:
        given = [
            k
            for k, v in (("text", text), ("url", url), ("media", media), ("location", location))
            if v is not None
        ]
        if len(given) != 1:
            raise ValueError("give exactly one of text, url, media, location")
        if text is not None:
            return {"contentType": "text", "text": text}
        if url is not None:
            return {"contentType": "url", "url": url}
        if media is not None:
            kind = media.get("type", "image")
            if kind not in ("image", "video", "audio", "voice", "document"):
                raise ValueError(f"unknown media type {kind!r}")
            media_id = self.chat.add_media(_MEDIA_PLACEHOLDER, "image/png")
            return {
                "contentType": "media",
                "media": {
                    "type": kind,
                    "url": media.get("url") or f"/chat-api/v2/media/{media_id}",
                    "mediaId": media_id,
                    **({"caption": media["caption"]} if media.get("caption") else {}),
                },
            }
        assert location is not None
        if "latitude" not in location or "longitude" not in location:
            raise ValueError("a location needs latitude and longitude")
        return {"contentType": "location", "location": location}

    async def _inbound_sms(self, sender: str, to: str, text: str | None) -> Delivery:
        if self.sms_webhook_url is None:
            raise ValueError("the sandbox has no SMS webhook URL to deliver to")
        if not text:
            raise ValueError("an inbound SMS needs text")
        try:
            phonenumbers.parse(sender if sender.startswith("+") else f"+{sender}")
        except phonenumbers.NumberParseException as exc:
            raise ValueError(f"not a phone number: {sender!r}") from exc
        now = iso(self.clock.now())
        request_id = str(uuid.uuid4())
        inbound = {
            "from": sender,
            "to": to,
            "message": text,
            "requestId": request_id,
            "originMCC": "001",
            "originMNC": "01",
            "originTtId": "0",
            "totalPrice": 0.0,
            "size": 1,
            "missingParts": False,
            "contentList": [{"msgId": f"{request_id}:0", "sentDate": now, "sequenceNumber": 1}],
        }
        return await self.notifier.post(self.sms_webhook_url, inbound)


def _closest_endpoint(request: web.Request) -> str:
    """`` (did you mean ...?)`` for a path one typo away from an endpoint of the sandbox."""
    paths = sorted({resource.canonical for resource in request.app.router.resources()})
    close = difflib.get_close_matches(request.path, paths, n=1, cutoff=0.85)
    return f"; did you mean {close[0]}? (GET /sandbox lists the sandbox's own)" if close else ""


@web.middleware
async def _problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Unknown paths and methods answer problem+json, like the rest of the API."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        detail = f"no such endpoint: {request.method} {request.path}"
        return problem(404, "Not Found", detail + _closest_endpoint(request))
    except web.HTTPMethodNotAllowed:
        return problem(405, "Method Not Allowed", f"{request.method} is not allowed here")
