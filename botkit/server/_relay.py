"""Requests the webhook front (:mod:`.front`) passes on to aiohttp's request handler: each
written anew from what the front's parser read, so that the boundary between two requests
that arrived in one read never needs finding."""

from __future__ import annotations

import asyncio

__all__ = ["Relay", "written_anew"]

#: Headers a relayed request is written without: its body goes with a Content-Length.
_FRAMING = frozenset({b"content-length", b"transfer-encoding", b"expect"})


class Relay:
    """The aiohttp request handler a connection's requests go to once one was not a webhook;
    what reaches it before the front's last answer is written waits here (for as long as the
    webhooks before it take to commit; reading is not paused for it, so that a client's
    half-close still reaches the front, which keeps the connection open for the answers)."""

    def __init__(self, handler: asyncio.Protocol) -> None:
        self.handler = handler
        self.started = False
        self.raw = False  # after an upgrade, bytes go through as they come
        self.waiting: list[bytes] = []

    def send(self, data: bytes) -> None:
        if self.started:
            self.handler.data_received(data)
        else:
            self.waiting.append(data)

    def start(self, transport: asyncio.Transport) -> None:
        self.started = True
        self.handler.connection_made(transport)
        waiting, self.waiting = self.waiting, []
        for data in waiting:
            self.handler.data_received(data)


def written_anew(
    method: bytes,
    url: bytes,
    version: str,
    headers: list[tuple[bytes, bytes]],
    body: list[bytes],
    *,
    upgrade: bool,
) -> bytes:
    """A request as bytes for aiohttp: its line and headers as they came, its body
    (unchunked) with a Content-Length. An upgrade's headers stay as they are: what follows
    its head is another protocol's, passed on as it comes."""
    lines = [b"%s %s HTTP/%s\r\n" % (method, url, version.encode())]
    for name, value in headers:
        if upgrade or name.lower() not in _FRAMING:
            lines.append(b"%s: %s\r\n" % (name, value))
    size = sum(len(part) for part in body)
    if not upgrade and (size or _has_framing(headers)):
        lines.append(b"Content-Length: %d\r\n" % size)
    lines.append(b"\r\n")
    lines.extend(body)
    return b"".join(lines)


def _has_framing(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(name.lower() in (b"content-length", b"transfer-encoding") for name, _ in headers)
