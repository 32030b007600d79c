"""The webhooks' own HTTP/1.1 front: tyntec's notifications parsed by httptools (llhttp, the
parser of uvicorn and of aiohttp's own C extension) and answered in one write; every other
request handed to the aiohttp application behind it.

Why not aiohttp's server for the webhooks too: a webhook is the one request a bot serves at
volume, and aiohttp's request, router, middlewares and response cost about 70 µs of CPU per
request, on the one thread that also runs every conversation's turn. This front costs about
25 µs for the same exchange; ``botkit serve`` made 1.15 to 1.27 times the events per second
with it (``benchmarks/README.md``, "What makes it fast").

A connection stays with the front while its requests are webhook POSTs. The first request
that is anything else (``/healthz``, ``/metrics``, the operator API, a GET of a webhook path)
is relayed to aiohttp's request handler, and so is everything after it on that connection, once
the front's own answers on it are written: answers leave in the order the requests came, as
HTTP/1.1 wants. A relayed request is passed on as the parser reads it (:mod:`._relay`): its
head written anew, its body in the framing it came in, so the boundary between two requests
that arrived in one read never needs finding, and aiohttp answers ``Expect: 100-continue``
and enforces its body limit itself.

Limits, as aiohttp's server keeps them: a webhook's body of at most ``max_body`` bytes (413), a
request line and headers of at most 64 KiB (431), a malformed request answered 400 and the
connection closed; connections idle for ``keepalive_timeout`` are closed; at most 16 requests
of one connection wait for their answers before it is read again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import cast
from urllib.parse import parse_qsl

import httptools
from aiohttp.web_protocol import RequestHandler

from ._problems import Reply, problem_reply
from ._relay import LAST_CHUNK, Relay, chunk, head_anew, is_chunked

__all__ = ["KEEPALIVE_TIMEOUT", "TakeWebhook", "WebhookFront"]

log = logging.getLogger("botkit.server")

TakeWebhook = Callable[[str, str, bytes], Awaitable[Reply]]
"""What answers a webhook: its path, the token it came with (``""`` for none), its body."""

#: The most of a request's line and headers read (aiohttp's server takes lines of 8 KiB).
MAX_HEAD = 64 * 1024
#: Requests of one connection waiting for their answers before the front stops reading it.
MAX_WAITING = 16
#: aiohttp's default, so a connection lives as long whichever side serves it.
KEEPALIVE_TIMEOUT = 75.0

_REASONS = {
    200: b"OK", 400: b"Bad Request", 401: b"Unauthorized", 413: b"Payload Too Large",
    431: b"Request Header Fields Too Large", 500: b"Internal Server Error",
    503: b"Service Unavailable",
}  # fmt: skip


class _StopReading(Exception):
    """Raised from a parser callback when nothing more of a connection is read."""


class _Refused(Exception):
    """Raised from a parser callback to stop reading a request that gets ``reply``."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


class WebhookFront:
    """An asyncio protocol factory serving ``paths`` through ``take``, and every other
    request through ``fallback`` (aiohttp's ``web.Server`` of the application).

    Use it through :class:`~botkit.server.BotSite`; by itself::

        front = WebhookFront(server.take_webhook_request, runner.server, paths={"/webhook"})
        listening = await loop.create_server(front, "127.0.0.1", 8080)
        ...
        listening.close()
        await front.close(timeout=10)
    """

    def __init__(
        self,
        take: TakeWebhook,
        fallback: Callable[[], RequestHandler],
        *,
        paths: set[str] | frozenset[str],
        max_body: int,
        keepalive_timeout: float = KEEPALIVE_TIMEOUT,
        on_refusal: Callable[[int], None] | None = None,
    ) -> None:
        self.take = take
        self.fallback = fallback
        self.on_refusal = on_refusal
        self.paths = frozenset(path.encode() for path in paths)
        self.max_body = max_body
        self.keepalive_timeout = keepalive_timeout
        self.connections: set[_Connection] = set()
        self.closing = False
        self._sweeper: asyncio.TimerHandle | None = None
        self._all_closed = asyncio.Event()
        self._date_second = 0
        self._date = b""

    def __call__(self) -> asyncio.Protocol:
        if self._sweeper is None and not self.closing:
            self._sweep_later()
        return _Connection(self)

    def refused(self, status: int) -> None:
        """Tell ``on_refusal`` of a request answered without reading it to its end."""
        if self.on_refusal is not None:
            self.on_refusal(status)

    def date(self) -> bytes:
        """The Date header's value, made once a second."""
        now = int(time.time())
        if now != self._date_second:
            self._date_second, self._date = now, formatdate(now, usegmt=True).encode()
        return self._date

    async def close(self, timeout: float) -> None:
        """Close idle connections at once and the others after their last answer, waiting
        at most ``timeout`` for them; what is left is then aborted. Relayed connections are
        aiohttp's to close (``AppRunner.cleanup``)."""
        self.closing = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for connection in list(self.connections):
            connection.close_when_done()
        if self.connections:
            try:
                await asyncio.wait_for(self._all_closed.wait(), timeout)
            except TimeoutError:
                for connection in list(self.connections):
                    connection.abort()

    def forget(self, connection: _Connection) -> None:
        """``connection`` is closed, or aiohttp's now."""
        self.connections.discard(connection)
        if self.closing and not self.connections:
            self._all_closed.set()

    def _sweep_later(self) -> None:
        self._sweeper = asyncio.get_running_loop().call_later(
            min(5.0, self.keepalive_timeout / 2), self._sweep
        )

    def _sweep(self) -> None:
        # One timer for all connections: cheaper than a timer per request.
        stale = asyncio.get_running_loop().time() - self.keepalive_timeout
        for connection in list(self.connections):
            if connection.idle_since(stale):
                connection.close()
        if self.connections:
            self._sweep_later()
        else:
            self._sweeper = None


class _Connection(asyncio.Protocol):
    def __init__(self, front: WebhookFront) -> None:
        self.front = front
        self.transport: asyncio.Transport | None = None
        # The loop, kept: on Python 3.11 each asyncio.get_running_loop() is a getpid() call.
        self.loop = asyncio.get_running_loop()
        self.parser = httptools.HttpRequestParser(self)
        # The answers due, in the order of their requests: each a future the request's task
        # sets, and what the answer says of the connection.
        self.replies: deque[tuple[asyncio.Future[Reply], bytes]] = deque()
        self.tasks: set[asyncio.Task[None]] = set()  # the tasks answering them, kept alive
        self.lost = False
        self.relay: Relay | None = None
        self.last_active = 0.0
        self.in_message = False
        self.closing = False  # close after the last answer
        self.ended = False  # the client sent its end (a half-close)
        self.paused_for = 0  # reasons reading is paused: too many waiting, a full write buffer
        self._new_message()

    def _new_message(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_size = 0
        self.body: list[bytes] = []
        self.body_size = 0
        self.ours = False
        self.chunked = False  # a relayed request's body is chunked anew

    # -- the transport's side -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.last_active = self.loop.time()
        self.front.connections.add(self)

    def data_received(self, data: bytes) -> None:
        if self.relay is not None and self.relay.raw:
            self.relay.send(data)
            return
        if self.closing and not self.in_message and self.relay is None:
            return  # after a request that closes the connection, nothing more is read
        self.last_active = self.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            # What follows the upgrade's head is another protocol: aiohttp gets it as it is.
            assert self.relay is not None
            self.relay.raw = True
            self.relay.send(data[cast(int, upgrade.args[0]) :])
        except httptools.HttpParserCallbackError as error:
            cause = error.__context__
            if isinstance(cause, _Refused):
                self.front.refused(cause.reply.status)
                self._refuse(cause.reply)
            elif not isinstance(cause, _StopReading):
                raise
        except httptools.HttpParserError as error:
            self.front.refused(400)
            self._refuse(problem_reply(400, "Bad Request", f"not an HTTP/1.1 request: {error}"))

    def eof_received(self) -> bool | None:
        if self.relay is not None and self.relay.started:
            self.relay.handler.eof_received()
            return None  # as aiohttp's own: the transport closes itself
        if self.replies:  # the client is done sending, not reading: answer, then close
            self.closing = self.ended = True
            return True
        return None  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.front.forget(self)
        # The events in flight still commit: an answer that cannot arrive does not undo them.
        self.lost = True
        self.replies.clear()
        if self.relay is not None and self.relay.started:
            self.relay.handler.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.relay is not None and self.relay.started:
            self.relay.handler.pause_writing()
        else:
            self._pause_reading()

    def resume_writing(self) -> None:
        if self.relay is not None and self.relay.started:
            self.relay.handler.resume_writing()
        else:
            self._resume_reading()

    # -- the parser's callbacks ---------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.closing and self.relay is None:
            raise _StopReading  # after a request that closes the connection
        self.in_message = True
        self._new_message()

    def on_url(self, url: bytes) -> None:
        self.url += url
        self._count_head(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))
        self._count_head(len(name) + len(value))

    def on_headers_complete(self) -> None:
        path = self.url.partition(b"?")[0]
        self.ours = (
            self.relay is None
            and self.parser.get_method() == b"POST"
            and path in self.front.paths
            and not self.parser.should_upgrade()
        )
        if not self.ours:
            if self.relay is None:
                self.relay = Relay(
                    self.front.fallback(), pause=self._pause_reading, resume=self._resume_reading
                )
                if not self.replies:
                    self._start_relay()
            self.chunked = is_chunked(self.headers)
            self.relay.begin_request(
                head_anew(
                    self.parser.get_method(), self.url, self.parser.get_http_version(),
                    self.headers,
                )
            )  # fmt: skip
            return
        expects = False
        for name, value in self.headers:
            lowered = name.lower()
            if lowered == b"content-length" and int(value) > self.front.max_body:
                raise _Refused(self._too_large())  # llhttp checked that it is a number
            expects = expects or (lowered == b"expect" and value.lower() == b"100-continue")
        if expects and not self.replies:  # else the client sends its body after a wait
            assert self.transport is not None
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        if not self.ours:
            assert self.relay is not None
            self.relay.send(chunk(body) if self.chunked else body)
            return
        self.body_size += len(body)
        if self.body_size > self.front.max_body:
            raise _Refused(self._too_large())
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.in_message = False
        keep_alive = self.parser.should_keep_alive()
        if not self.ours:
            assert self.relay is not None
            if self.chunked:
                self.relay.send(LAST_CHUNK)
            return
        body = self.body[0] if len(self.body) == 1 else b"".join(self.body)
        path, _, query = self.url.partition(b"?")
        reply: asyncio.Future[Reply] = self.loop.create_future()
        self.replies.append((reply, _connection_header(keep_alive, self.parser)))
        task = self.loop.create_task(self._answer(reply, path.decode(), self._token(query), body))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        if not keep_alive:
            self.closing = True
        if len(self.replies) == MAX_WAITING:
            self._pause_reading()

    # -- answering ----------------------------------------------------------------------

    async def _answer(
        self, reply: asyncio.Future[Reply], path: str, token: str, body: bytes
    ) -> None:
        try:
            answer = await self.front.take(path, token, body)
        except Exception:  # a bug: answered as a problem, and the server goes on
            log.exception("a webhook failed")
            answer = problem_reply(500, "Internal Server Error", "the server failed; see its log")
        if not self.lost:
            # Written from here rather than from a callback on the task, which would run a
            # turn of the loop later (measured: within the noise, 1.02 times the events/s).
            reply.set_result(answer)
            self._write_ready()

    def _write_ready(self) -> None:
        """Write the answers that are ready, in the order of their requests."""
        assert self.transport is not None
        while self.replies and self.replies[0][0].done():
            future, connection = self.replies.popleft()
            if len(self.replies) == MAX_WAITING - 1:
                self._resume_reading()
            last = connection is _CLOSE or (
                self.closing and not self.replies and not self.in_message and self.relay is None
            )
            self._write(future.result(), _CLOSE if last else connection)
            if last:
                self.transport.close()
                return
        if not self.replies:
            self.last_active = self.loop.time()
            if self.relay is not None and not self.relay.started:
                self._start_relay()

    def _write(self, reply: Reply, connection: bytes) -> None:
        assert self.transport is not None
        self.transport.write(
            b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nDate: %s\r\n%s\r\n%s"
            % (
                reply.status, _REASONS.get(reply.status, b"Unknown"), reply.content_type.encode(),
                len(reply.body), self.front.date(), connection,
                reply.body,
            )
        )  # fmt: skip

    def _refuse(self, reply: Reply) -> None:
        """Answer a request that is not read to its end, after the answers before it; the
        connection closes then, as the rest of what was sent cannot be told apart. On a
        connection relayed to aiohttp, whose answers the front does not see, it is cut."""
        if self.relay is not None:
            assert self.transport is not None
            self.transport.abort()
            return
        self.in_message = False
        self.closing = True
        refusal: asyncio.Future[Reply] = self.loop.create_future()
        refusal.set_result(reply)
        self.replies.append((refusal, _CLOSE))
        self._write_ready()

    def _too_large(self) -> Reply:
        return problem_reply(
            413, "Payload Too Large", f"bodies are limited to {self.front.max_body} bytes"
        )

    def _count_head(self, size: int) -> None:
        self.head_size += size
        if self.head_size > MAX_HEAD:
            raise _Refused(
                problem_reply(
                    431, "Request Header Fields Too Large",
                    f"a request's line and headers are limited to {MAX_HEAD} bytes",
                )
            )  # fmt: skip

    def _token(self, query: bytes) -> str:
        for name, value in self.headers:
            if name.lower() == b"authorization" and value.startswith(b"Bearer "):
                return value[7:].decode("latin-1").strip()
        if b"token=" in query:
            for key, given in parse_qsl(query.decode("latin-1")):
                if key == "token":  # the first, as aiohttp's request.query gives it
                    return given
        return ""

    # -- relaying to aiohttp --------------------------------------------------------------

    def _start_relay(self) -> None:
        assert self.relay is not None
        assert self.transport is not None
        self.front.forget(self)  # aiohttp's now, to keep alive and to close
        self.relay.start(self.transport, ended=self.ended)

    # -- flow control and closing ---------------------------------------------------------

    def _pause_reading(self) -> None:
        self.paused_for += 1
        if self.paused_for == 1 and self.transport is not None:
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        self.paused_for = max(0, self.paused_for - 1)
        if self.paused_for == 0 and self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def idle_since(self, moment: float) -> bool:
        """Whether nothing was read or answered since ``moment`` while nothing was due."""
        return not self.replies and self.last_active < moment

    def close_when_done(self) -> None:
        self.closing = True
        if not self.replies and not self.in_message and self.transport is not None:
            self.transport.close()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


_CLOSE = b"Connection: close\r\n"
_KEEP_ALIVE = b"Connection: keep-alive\r\n"


def _connection_header(keep_alive: bool, parser: httptools.HttpRequestParser) -> bytes:
    """What an answer says of its connection: nothing, in HTTP/1.1's default."""
    if not keep_alive:
        return _CLOSE
    return b"" if parser.get_http_version() == "1.1" else _KEEP_ALIVE
