"""Keep-alive HTTP/1.1 connections to one origin (tyntec's API root), on httptools' parser.

Why not aiohttp's client: sending through it was about a third of what ``botkit serve`` did
per event. A send through an aiohttp ``ClientSession`` costs about 95 µs of CPU (URL objects,
header multidicts, timers, traces, its connector), where the exchange itself is a write and a
parse. Through this pool the whole send costs about 40 µs (``benchmarks/client.py``), and
``botkit serve`` spends 0.8 times the CPU per event (benchmarks/README.md).

It speaks what the tyntec client needs and nothing more: one origin, http or https; requests
with a body of known length; answers framed any way HTTP/1.1 allows (a length, chunks, or up
to the close), read by httptools (llhttp, Node's parser, as in uvicorn). No redirects (an API
does not move under a client), no proxies, no cookies, no compression (none is asked for).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Mapping
from typing import NamedTuple, cast
from urllib.parse import urlsplit

import httptools

__all__ = ["Answer", "CannotConnect", "ConnectionPool", "ExchangeFailed"]

#: Idle connections older than this are closed rather than reused: a server closes idle
#: keep-alive connections after a while, and a request written into one it is closing fails.
#: aiohttp's client uses the same 15 s.
IDLE_TIMEOUT = 15.0

#: Connections open at once, at most (aiohttp's default limit too).
CONNECTION_LIMIT = 100


class Answer(NamedTuple):
    """An HTTP answer read in full; header names lowercased."""

    status: int
    headers: dict[str, str]
    body: bytes


class CannotConnect(OSError):
    """No connection could be made: the request was not sent."""

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(f"cannot connect to {address}: {reason}")
        self.reason = reason


class ExchangeFailed(Exception):
    """The connection broke, or the answer could not be read, after the request was sent."""


class _Connection(asyncio.Protocol):
    """One connection, one exchange at a time (HTTP/1.1 without pipelining)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._answer: asyncio.Future[Answer] | None = None
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._ends_with_close = False
        self._complete = False

    # -- asyncio's protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            self._fail(ExchangeFailed(f"an answer that is not HTTP/1.1: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self._ends_with_close and self._answer is not None:
            self.on_message_complete()  # an answer with neither length nor chunks ends here
        else:
            self._fail(ExchangeFailed(f"the server closed the connection ({exc or 'end of data'})"))

    # -- httptools' callbacks ------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self._ends_with_close = (
            "content-length" not in self._headers and "transfer-encoding" not in self._headers
        )

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        answer, self._answer = self._answer, None
        # Called by the parser, the answer was framed (a length, chunks, or none for a 204):
        # the connection is good for another exchange if the server keeps it. Called from
        # connection_lost, the answer ran to the close, and `lost` says the rest.
        self._complete = self._parser.should_keep_alive()
        if answer is not None and not answer.done():
            status = self._parser.get_status_code()
            answer.set_result(Answer(status, self._headers, b"".join(self._body)))
        self._headers, self._body, self._ends_with_close = {}, [], False

    # -- the pool's side -----------------------------------------------------------------------

    def exchange(self, request: bytes) -> asyncio.Future[Answer]:
        assert self.transport is not None
        assert self._answer is None, "one exchange at a time"
        self._complete = False
        self._answer = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self._answer

    @property
    def reusable(self) -> bool:
        """Whether the last exchange ended cleanly and the server keeps the connection."""
        return self._complete and not self.lost

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _fail(self, error: Exception) -> None:
        answer, self._answer = self._answer, None
        if answer is not None and not answer.done():
            answer.set_exception(error)


class ConnectionPool:
    """Keep-alive connections to the origin of ``base_url``; every request carries
    ``headers`` (the API key, say) besides its own."""

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        *,
        limit: int = CONNECTION_LIMIT,
        idle_timeout: float = IDLE_TIMEOUT,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.host = parts.hostname
        self.tls = parts.scheme == "https"
        self.port = parts.port or (443 if self.tls else 80)
        self.prefix = parts.path.rstrip("/")
        self.idle_timeout = idle_timeout
        self._ssl = (ssl_context or ssl.create_default_context()) if self.tls else None
        # The header lines every request shares, made once.
        self._common = "".join(
            f"{name}: {value}\r\n" for name, value in {"Host": parts.netloc, **headers}.items()
        ).encode("latin-1")
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(limit)
        self._closed = False

    async def request(
        self,
        method: str,
        target: str,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        timeout: float,
    ) -> Answer:
        """Send one request (``target``: the path under the base URL, with its query) and
        read its answer, within ``timeout`` seconds from the first wait for a connection.

        Raises :class:`CannotConnect` (nothing was sent), :class:`ExchangeFailed` (sent, and
        the answer did not come) or :class:`TimeoutError`."""
        if method == "HEAD":
            raise ValueError("HEAD is not supported: its answer's length says no body follows")
        if self._closed:
            raise RuntimeError("the connection pool is closed")
        request = self._encode(method, target, body, content_type)
        async with asyncio.timeout(timeout), self._slots:
            connection = self._idle_connection() or await self._connect()
            try:
                answer = await connection.exchange(request)
            except BaseException:  # a timeout or a cancellation mid-exchange too
                connection.close()
                raise
        if connection.reusable and not self._closed:
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
        else:
            connection.close()
        return answer

    async def close(self) -> None:
        """Close the idle connections; those in use close when their exchange ends."""
        self._closed = True
        for connection in self._idle:
            connection.close()
        self._idle.clear()

    def _encode(
        self, method: str, target: str, body: bytes | None, content_type: str | None
    ) -> bytes:
        head = b"%s %s%s HTTP/1.1\r\n%s" % (
            method.encode("ascii"), self.prefix.encode(), target.encode(), self._common
        )  # fmt: skip
        if body is None:
            # A POST, PUT or PATCH without a body still says so: some servers answer 411.
            return head + (b"\r\n" if method in ("GET", "DELETE") else b"Content-Length: 0\r\n\r\n")
        kind = (content_type or "application/octet-stream").encode("latin-1")
        return head + b"Content-Type: %s\r\nContent-Length: %d\r\n\r\n%s" % (kind, len(body), body)

    def _idle_connection(self) -> _Connection | None:
        # The most recently used first: it is the least likely to be closing.
        deadline = time.monotonic() - self.idle_timeout
        while self._idle:
            connection = self._idle.pop()
            if not connection.lost and connection.idle_since > deadline:
                return connection
            connection.close()
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, connection = await loop.create_connection(
                _Connection,
                self.host,
                self.port,
                ssl=self._ssl,
                server_hostname=self.host if self.tls else None,
            )
        except ssl.SSLError as exc:
            raise CannotConnect(f"{self.host}:{self.port}", f"TLS failed: {exc}") from exc
        except OSError as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
            raise CannotConnect(f"{self.host}:{self.port}", reason) from exc
        return connection
