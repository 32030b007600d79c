"""``TyntecClient``: one object for every tyntec API botkit uses, sharing one HTTP session."""

from __future__ import annotations

import os
from types import TracebackType
from typing import Self

import aiohttp

from ._retry import RetryPolicy
from ._transport import Transport
from .chat import ChatAPI
from .messaging import MessagingAPI
from .nis import NumberInformationAPI
from .twofa import TwoFactorAPI

__all__ = ["DEFAULT_BASE_URL", "TyntecClient"]

DEFAULT_BASE_URL = "https://api.tyntec.com"


class TyntecClient:
    """Async client of tyntec's Chat, 2FA, Messaging and NIS APIs.

    ``api_key`` and ``base_url`` default to the environment (``TYNTEC_API_KEY``,
    ``TYNTEC_API_URL``), then to tyntec's production root. ``base_url`` is the API root;
    each API appends its own prefix (``/chat-api/v2``, ``/2fa/v1`` ...). Each try of a call
    times out after ``timeout`` seconds; ``retry`` says what is retried (see
    :class:`RetryPolicy`).

    >>> async def main() -> None:
    ...     async with TyntecClient(api_key="...", base_url="http://127.0.0.1:8081") as api:
    ...         await api.chat.send(messages.text("+491701234567", "Hi!", from_="4930123"))
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = 5.0,
        retry: RetryPolicy | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        api_key = api_key or os.environ.get("TYNTEC_API_KEY")
        if not api_key:
            raise ValueError("no tyntec API key: pass api_key= or set TYNTEC_API_KEY")
        self.base_url = (base_url or os.environ.get("TYNTEC_API_URL") or DEFAULT_BASE_URL).rstrip(
            "/"
        )
        self._transport = Transport(
            api_key=api_key,
            base_url=self.base_url,
            timeout=timeout,
            retry=retry or RetryPolicy(),
            session=session,
        )
        self.chat = ChatAPI(self._transport)
        self.two_factor = TwoFactorAPI(self._transport)
        self.messaging = MessagingAPI(self._transport)
        self.nis = NumberInformationAPI(self._transport)

    @property
    def api_key(self) -> str:
        """The key every call is made with (never in a repr or a log line)."""
        return self._transport.api_key

    @property
    def timeout(self) -> float:
        """Seconds each try of a call may take."""
        return self._transport.timeout

    @property
    def proxy(self) -> str | None:
        """Once open, the proxy that calls go through: the one the environment names for
        ``base_url`` (``HTTPS_PROXY`` or ``HTTP_PROXY``, unless ``NO_PROXY`` names its host;
        never for a loopback host), None when calls go directly or through a given session."""
        return self._transport.proxy

    @property
    def retry(self) -> RetryPolicy:
        """What failed calls are retried (see :class:`RetryPolicy`)."""
        return self._transport.retry

    async def open(self) -> None:
        """Open the HTTP session (``async with`` does this for you)."""
        await self._transport.open()

    async def close(self) -> None:
        """Close the HTTP session; the client cannot be used again."""
        await self._transport.close()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        # The key is a secret: it never appears in a repr, a log line or an exception.
        return f"TyntecClient(base_url={self.base_url!r}, api_key='***')"
