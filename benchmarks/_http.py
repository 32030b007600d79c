"""The load generator's two HTTP ends, on bare asyncio protocols: a keep-alive client that
posts the webhooks, and the server of the fake Chat API.

They share the machine's two cores with the subject they measure, so what they cost is
taken from the subject: with aiohttp's client and server they used 0.13 to 0.2 ms of CPU
per event, as much as the floor itself, and a subject that uses both cores (botkit, with
its writer thread and sending process) waited for them. Here an HTTP/1.1 exchange is a few
bytes written and a header block searched. They speak only what the subjects send and
answer (aiohttp's client and server: a Content-Length on every message, no chunks, no
100-continue) and fail loudly on anything else: they are measuring tools, not an HTTP
library.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

__all__ = ["Answer", "KeepAliveClient", "serve"]

#: What the server answers a request: a status and a JSON body.
Answer = tuple[int, bytes]
_REASONS = {200: b"OK", 202: b"Accepted", 404: b"Not Found"}


def _take_message(buffer: bytearray) -> tuple[bytes, bytes] | None:
    """The first whole message in ``buffer`` (its header block, lowercased, and its body),
    removed from it; None until one has arrived."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buffer[:end]).lower()
    at = head.find(b"\r\ncontent-length:")
    if at < 0:
        if b"transfer-encoding" in head:
            raise ValueError(f"a chunked message, which this client does not read: {head!r}")
        length = 0
    else:
        stop = head.find(b"\r\n", at + 2)
        length = int(head[at + 17 : stop if stop >= 0 else len(head)])
    total = end + 4 + length
    if len(buffer) < total:
        return None
    body = bytes(buffer[end + 4 : total])
    del buffer[:total]
    return head, body


class _ClientConnection(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.waiting: asyncio.Future[Answer] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        message = _take_message(self.buffer)
        if message is not None and self.waiting is not None:
            head, body = message
            self.waiting.set_result((int(head[9:12]), body))
            self.waiting = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiting is not None and not self.waiting.done():
            self.waiting.set_exception(exc or ConnectionError("the subject closed the connection"))

    def exchange(self, request: bytes) -> asyncio.Future[Answer]:
        assert self.transport is not None
        assert self.waiting is None, "one request at a time"
        self.waiting = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self.waiting


class KeepAliveClient:
    """One connection to ``host:port``, one request at a time, as one user of a load
    generator needs (each has its own)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._connection: _ClientConnection | None = None

    async def post(self, path: str, body: bytes) -> Answer:
        if (
            self._connection is None
            or self._connection.transport is None
            or (self._connection.transport.is_closing())
        ):
            _, self._connection = await asyncio.get_running_loop().create_connection(
                _ClientConnection, self.host, self.port
            )
        request = (
            b"POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s"
        ) % (path.encode(), self.host.encode(), self.port, len(body), body)
        return await self._connection.exchange(request)

    def close(self) -> None:
        if self._connection is not None and self._connection.transport is not None:
            self._connection.transport.close()


class _ServerConnection(asyncio.Protocol):
    def __init__(self, handle: Callable[[bytes, bytes], Answer]) -> None:
        self.handle = handle
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buffer += data
        while (message := _take_message(self.buffer)) is not None:
            head, body = message
            status, answer = self.handle(head[: head.find(b"\r\n")], body)
            self.transport.write(
                b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                b"\r\n%s" % (status, _REASONS[status], len(answer), answer)
            )


async def serve(
    handle: Callable[[bytes, bytes], Answer], host: str = "127.0.0.1"
) -> asyncio.Server:
    """A server on ``host`` (port 0) that answers each request with ``handle(request line,
    body)``; the request line is lowercased (``post /chat-api/v2/messages http/1.1``)."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: _ServerConnection(handle), host, 0)
