"""Talking to a deployed bot through tyntec, the way a user's phone would, with tyntecEcho.

Each line is sent on the tyntecEcho channel with ``replyBack: true``: tyntec (or botkit's
sandbox) echoes it to the bot's webhook as a MoMessage from the pseudo user, with ``from``
and ``to`` switched. The bot's answers are read from its
``GET /conversations/{user}/messages`` stream (server-sent events, operator token).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from types import TracebackType
from typing import Any, Self

import aiohttp

from .tyntec import TyntecClient, messages

__all__ = ["RemoteBot", "RemoteError"]


class RemoteError(RuntimeError):
    """The deployed bot (or tyntec) did not answer as expected."""


class RemoteBot:
    """A pseudo user of a deployed bot: ``number`` writes through tyntecEcho to the bot's
    echo ``account``; what the bot sends to ``number`` is collected as it comes."""

    def __init__(
        self,
        bot_url: str,
        *,
        api: TyntecClient,
        number: str,
        account: str,
        token: str | None = None,
        reply_timeout: float = 10.0,
        quiet: float = 0.7,
    ) -> None:
        self.bot_url = bot_url.rstrip("/")
        self.api = api
        self.number = "+" + number.lstrip("+")
        self.user = self.number.lstrip("+")
        self.account = account
        self.reply_timeout = reply_timeout
        self.quiet = quiet
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._session: aiohttp.ClientSession | None = None
        self._replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("use the RemoteBot as `async with RemoteBot(...) as bot:`")
        return self._session

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession(headers=self._headers)
        await self.api.open()
        self._reader = asyncio.get_running_loop().create_task(self._follow())
        connected = asyncio.get_running_loop().create_task(self._connected.wait())
        done, _ = await asyncio.wait({self._reader, connected}, timeout=10,
                                     return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        if connected not in done:
            connected.cancel()
            error = self._reader.exception() if self._reader in done else None
            await self.__aexit__(None, None, None)
            if isinstance(error, RemoteError):
                raise error
            reason = f": {error}" if error else ""
            raise RemoteError(f"cannot follow the bot's messages at {self.bot_url}{reason}")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self._session is not None:
            await self._session.close()
        await self.api.close()

    async def _follow(self) -> None:
        url = f"{self.bot_url}/conversations/{self.user}/messages"
        async with self.session.get(url, timeout=aiohttp.ClientTimeout(total=None)) as response:
            if response.status != 200:
                raise RemoteError(f"{url} answered {response.status}: {await response.text()}")
            self._connected.set()
            async for raw in response.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("data: "):
                    self._replies.put_nowait(json.loads(line[6:]))

    async def say(self, text: str) -> list[dict[str, Any]]:
        """Write ``text`` as the user; the bot's answers (their message payloads)."""
        request = messages.text(
            self.number, text, channels="tyntecEcho", from_=self.account, reply_back=True
        )
        return await self._send(request)

    async def send_media(
        self, kind: str, url: str, caption: str | None = None
    ) -> list[dict[str, Any]]:
        request = messages.media(
            self.number, url, kind=kind, caption=caption, channels="tyntecEcho",  # type: ignore[arg-type]
            from_=self.account, reply_back=True,
        )  # fmt: skip
        return await self._send(request)

    async def _send(self, request: Any) -> list[dict[str, Any]]:
        await self.api.chat.send(request)
        return await self.replies()

    async def replies(self, first: float | None = None) -> list[dict[str, Any]]:
        """What the bot sends next: waits ``first`` seconds for a message, then until the
        bot has been quiet for a moment."""
        found: list[dict[str, Any]] = []
        wait = self.reply_timeout if first is None else first
        while True:
            try:
                entry = await asyncio.wait_for(self._replies.get(), wait)
            except TimeoutError:
                return found
            found.append(entry["payload"])
            wait = self.quiet

    async def conversation(self) -> dict[str, Any] | None:
        """The user's (most recent) conversation on the bot: flow, state, vars."""
        async with self.session.get(f"{self.bot_url}/conversations/{self.user}") as response:
            if response.status != 200:
                raise RemoteError(f"reading the conversation: {response.status}")
            found = await response.json()
        return found[0] if found else None

    async def start(self, flow: str, variables: dict[str, Any], restart: bool) -> dict[str, Any]:
        """Start ``flow`` for the user through the bot's operator API."""
        body = {"flow": flow, "to": self.number, "vars": variables, "restart": restart,
                "channel": "tyntecEcho", "from": self.account}  # fmt: skip
        async with self.session.post(f"{self.bot_url}/conversations", json=body) as response:
            answer = await response.json(content_type=None)
            if response.status >= 400:
                raise RemoteError(str(answer.get("detail") or answer))
            return dict(answer)

    async def otp_code(self) -> str | None:
        """The last OTP code sent to the user, when tyntec's side is botkit's sandbox (it
        lists them); None on the real platform, where codes reach a phone."""
        url = f"{self.api.base_url}/sandbox/otps"
        try:
            async with self.session.get(url, params={"number": self.number}) as response:
                if response.status != 200:
                    return None
                listed = await response.json()
        except aiohttp.ClientError:
            return None
        return str(listed[-1]["code"]) if listed else None
