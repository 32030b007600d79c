"""Requests the webhook front (:mod:`.front`) passes on to aiohttp's request handler, as the
front's parser reads them: each head written anew from the parsed line and headers, and the
body after it in the framing it came in (as it is with a Content-Length, chunked anew when
it came chunked). The boundary between two requests that arrived in one read never needs
finding, and aiohttp sees each request as the client sent it: it answers ``Expect:
100-continue`` itself and enforces its body limit (413) as it reads."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp.web_protocol import RequestHandler

__all__ = ["LAST_CHUNK", "RELAY_BACKLOG", "Relay", "chunk", "head_anew", "is_chunked"]

#: Bytes that may wait for aiohttp before the front stops reading the connection.
RELAY_BACKLOG = 256 * 1024

#: The chunk that ends a chunked body (trailers are not passed on).
LAST_CHUNK = b"0\r\n\r\n"


class Relay:
    """The aiohttp request handler a connection's requests go to once one was not a webhook.

    What reaches it before the front's last answer on the connection is written waits here,
    as long as the webhooks before it take to commit. Past :data:`RELAY_BACKLOG` bytes,
    ``pause`` is called (the front stops reading), and ``resume`` once the handler has it
    all; below that, reading goes on, so that a client's half-close still reaches the front,
    which keeps the connection open for the answers."""

    def __init__(
        self,
        handler: RequestHandler,
        *,
        pause: Callable[[], None],
        resume: Callable[[], None],
    ) -> None:
        self.handler = handler
        self.started = False
        self.raw = False  # after an upgrade, bytes go through as they come
        self.waiting: list[bytes] = []
        self.requests = 0  # whose heads were passed on
        self._waiting_size = 0
        self._pause, self._resume = pause, resume
        self._paused = False

    def send(self, data: bytes) -> None:
        if self.started:
            self.handler.data_received(data)
            return
        self.waiting.append(data)
        self._waiting_size += len(data)
        if self._waiting_size > RELAY_BACKLOG and not self._paused:
            self._paused = True
            self._pause()

    def begin_request(self, head: bytes) -> None:
        self.requests += 1
        self.send(head)

    def start(self, transport: asyncio.Transport, *, ended: bool = False) -> None:
        """Hand the connection to aiohttp; ``ended`` if the client has sent its end."""
        self.started = True
        self.handler.connection_made(transport)
        if self._paused:
            # Before the handler reads what waited: a pause of its own then stands.
            self._paused = False
            self._resume()
        waiting, self.waiting, self._waiting_size = self.waiting, [], 0
        for data in waiting:
            self.handler.data_received(data)
        if ended:
            self._after_the_end()

    def _after_the_end(self) -> None:
        # aiohttp would have the transport closed at once, before its answers: it is left
        # open for them. With one request to answer, aiohttp closes it after the answer
        # (``close`` would drop a second, pipelined request); with more, when its
        # keep-alive time is up.
        if self.requests == 1:
            self.handler.close()
        else:
            self.handler.eof_received()


def head_anew(method: bytes, url: bytes, version: str, headers: list[tuple[bytes, bytes]]) -> bytes:
    """A request's line and headers as bytes, the headers as they came (their framing too:
    the body follows as it came, or chunked anew)."""
    lines = [b"%s %s HTTP/%s\r\n" % (method, url, version.encode())]
    lines.extend(b"%s: %s\r\n" % (name, value) for name, value in headers)
    lines.append(b"\r\n")
    return b"".join(lines)


def chunk(data: bytes) -> bytes:
    """``data`` as one chunk of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def is_chunked(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether a request's body is chunked: the last of its transfer codings is ``chunked``
    (as llhttp reads it; it refuses one that also has a Content-Length, or ends in another
    coding)."""
    codings = b",".join(value for name, value in headers if name.lower() == b"transfer-encoding")
    return codings.rsplit(b",", 1)[-1].strip().lower() == b"chunked"
