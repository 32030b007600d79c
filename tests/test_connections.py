"""The tyntec client's connection pool against real servers on 127.0.0.1 that answer as
scripted: keep-alive, every framing of an answer, servers that close, hang or talk nonsense,
and TLS."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
import trustme

from botkit.tyntec import TransportError, TyntecClient, messages
from botkit.tyntec._connections import CannotConnect, ConnectionPool, ExchangeFailed

OK = b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"

Reply = Callable[[bytes, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class ScriptedServer:
    """Reads whole requests (head and Content-Length body) and lets ``reply`` answer each."""

    reply: Reply
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    url: str = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                length = 0
                for line in head.lower().split(b"\r\n"):
                    if line.startswith(b"content-length:"):
                        length = int(line.partition(b":")[2])
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                await self.reply(request, writer)
                if writer.is_closing():
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def answer(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(data)
    await writer.drain()


Serve = Callable[..., Awaitable[ScriptedServer]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    servers: list[asyncio.Server] = []

    async def start(reply: Reply, ssl_context: ssl.SSLContext | None = None) -> ScriptedServer:
        scripted = ScriptedServer(reply)
        server = await asyncio.start_server(scripted.handle, "127.0.0.1", 0, ssl=ssl_context)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        scripted.url = f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"
        return scripted

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def ok(request: bytes, writer: asyncio.StreamWriter) -> None:
    await answer(writer, OK)


async def test_requests_share_one_kept_alive_connection(serve: Serve) -> None:
    server = await serve(ok)
    pool = ConnectionPool(server.url + "/api", {"apikey": "secret"})
    for _ in range(3):
        got = await pool.request(
            "POST", "/messages", body=b'{"a":1}', content_type="application/json", timeout=2
        )
        assert (got.status, got.body) == (202, b"{}")
        assert got.headers["content-type"] == "application/json"
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST /api/messages HTTP/1.1\r\n")
    assert b"\r\nHost: 127.0.0.1:" in first
    assert b"\r\napikey: secret\r\n" in first
    assert b'\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{"a":1}' in first
    await pool.close()


async def test_a_request_without_body_says_so_where_servers_want_it(serve: Serve) -> None:
    server = await serve(ok)
    pool = ConnectionPool(server.url, {})
    await pool.request("GET", "/otp?number=%2B49170", timeout=2)
    await pool.request("POST", "/otp", timeout=2)
    get, post = server.requests
    assert get.startswith(b"GET /otp?number=%2B49170 HTTP/1.1\r\n")
    assert b"content-length" not in get.lower()
    assert b"\r\nContent-Length: 0\r\n\r\n" in post  # a POST without one may get a 411
    await pool.close()


async def test_a_chunked_answer_is_read_whole_and_the_connection_kept(serve: Serve) -> None:
    async def chunked(request: bytes, writer: asyncio.StreamWriter) -> None:
        await answer(writer, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        await asyncio.sleep(0.01)  # the rest in a later packet
        await answer(writer, b"6\r\n world\r\n0\r\n\r\n")

    server = await serve(chunked)
    pool = ConnectionPool(server.url, {})
    assert (await pool.request("GET", "/a", timeout=2)).body == b"hello world"
    assert (await pool.request("GET", "/b", timeout=2)).body == b"hello world"
    assert server.connections == 1
    await pool.close()


async def test_an_answer_that_ends_with_the_connection_is_read_whole(serve: Serve) -> None:
    async def until_close(request: bytes, writer: asyncio.StreamWriter) -> None:
        await answer(writer, b"HTTP/1.1 200 OK\r\n\r\nall of it")
        writer.close()

    server = await serve(until_close)
    pool = ConnectionPool(server.url, {})
    assert (await pool.request("GET", "/a", timeout=2)).body == b"all of it"
    assert (await pool.request("GET", "/b", timeout=2)).body == b"all of it"
    assert server.connections == 2  # such a connection cannot be used again
    await pool.close()


async def test_an_answer_without_a_body_keeps_the_connection(serve: Serve) -> None:
    async def no_content(request: bytes, writer: asyncio.StreamWriter) -> None:
        await answer(writer, b"HTTP/1.1 204 No Content\r\n\r\n")

    server = await serve(no_content)
    pool = ConnectionPool(server.url, {})
    for _ in range(2):
        got = await pool.request("DELETE", "/groups/1", timeout=2)
        assert (got.status, got.body) == (204, b"")
    assert server.connections == 1
    await pool.close()


async def test_connection_close_is_honoured(serve: Serve) -> None:
    async def closing(request: bytes, writer: asyncio.StreamWriter) -> None:
        await answer(writer, b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")

    server = await serve(closing)
    pool = ConnectionPool(server.url, {})
    for _ in range(2):
        assert (await pool.request("GET", "/", timeout=2)).body == b"ok"
    assert server.connections == 2
    await pool.close()


async def test_a_connection_the_server_closed_while_idle_is_not_reused(serve: Serve) -> None:
    async def answer_then_hang_up(request: bytes, writer: asyncio.StreamWriter) -> None:
        await answer(writer, OK)
        await asyncio.sleep(0.01)
        writer.close()  # as a server does with idle keep-alive connections

    server = await serve(answer_then_hang_up)
    pool = ConnectionPool(server.url, {})
    await pool.request("POST", "/", body=b"1", timeout=2)
    await asyncio.sleep(0.1)
    assert (await pool.request("POST", "/", body=b"2", timeout=2)).status == 202
    assert server.connections == 2
    await pool.close()


async def test_connections_idle_too_long_are_not_reused(serve: Serve) -> None:
    server = await serve(ok)
    pool = ConnectionPool(server.url, {}, idle_timeout=0.05)
    await pool.request("GET", "/", timeout=2)
    await pool.request("GET", "/", timeout=2)
    assert server.connections == 1
    await asyncio.sleep(0.1)
    await pool.request("GET", "/", timeout=2)
    assert server.connections == 2
    await pool.close()


async def test_a_server_that_hangs_up_mid_answer_fails_the_exchange(serve: Serve) -> None:
    async def half(request: bytes, writer: asyncio.StreamWriter) -> None:
        await answer(writer, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly some")
        writer.close()

    server = await serve(half)
    pool = ConnectionPool(server.url, {})
    with pytest.raises(ExchangeFailed, match="closed the connection"):
        await pool.request("GET", "/", timeout=2)
    await pool.close()


async def test_an_answer_that_is_not_http_fails_the_exchange(serve: Serve) -> None:
    async def nonsense(request: bytes, writer: asyncio.StreamWriter) -> None:
        await answer(writer, b"SSH-2.0-OpenSSH_9.6\r\n\r\n")

    server = await serve(nonsense)
    pool = ConnectionPool(server.url, {})
    with pytest.raises(ExchangeFailed, match="not HTTP"):
        await pool.request("GET", "/", timeout=2)
    await pool.close()


async def test_a_late_answer_does_not_reach_the_next_request(serve: Serve) -> None:
    answers = iter([b"slow", b"fast"])

    async def slow_then_fast(request: bytes, writer: asyncio.StreamWriter) -> None:
        body = next(answers)
        if body == b"slow":
            await asyncio.sleep(0.3)
        await answer(writer, b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n" + body)

    server = await serve(slow_then_fast)
    pool = ConnectionPool(server.url, {})
    with pytest.raises(TimeoutError):
        await pool.request("GET", "/", timeout=0.1)
    assert (await pool.request("GET", "/", timeout=2)).body == b"fast"
    assert server.connections == 2  # the timed-out connection was dropped, not reused
    await pool.close()


async def test_refused_connections_say_nothing_was_sent(unused_tcp_port: int) -> None:
    pool = ConnectionPool(f"http://127.0.0.1:{unused_tcp_port}", {})
    with pytest.raises(CannotConnect, match=f"cannot connect to 127.0.0.1:{unused_tcp_port}"):
        await pool.request("POST", "/", body=b"x", timeout=2)
    await pool.close()


async def test_the_limit_bounds_connections_in_use(serve: Serve) -> None:
    async def slowly(request: bytes, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.05)
        await answer(writer, OK)

    server = await serve(slowly)
    pool = ConnectionPool(server.url, {}, limit=2)
    answers = await asyncio.gather(*(pool.request("GET", "/", timeout=5) for _ in range(6)))
    assert [a.status for a in answers] == [202] * 6
    assert server.connections == 2
    await pool.close()


async def test_https_is_verified(serve: Serve) -> None:
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    server = await serve(ok, server_context)

    trusting = ssl.create_default_context()
    authority.configure_trust(trusting)
    pool = ConnectionPool(server.url, {}, ssl_context=trusting)
    assert (await pool.request("GET", "/", timeout=2)).status == 202
    await pool.close()

    # Without the authority the certificate is refused before anything is sent.
    with pytest.raises(CannotConnect, match="TLS"):
        await ConnectionPool(server.url, {}).request("POST", "/", body=b"x", timeout=2)
    assert len(server.requests) == 1


def test_only_http_urls_are_taken() -> None:
    with pytest.raises(ValueError, match="not an http"):
        ConnectionPool("ftp://example.com", {})


async def test_the_client_surfaces_a_broken_exchange_as_a_transport_error(serve: Serve) -> None:
    async def hang_up(request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await serve(hang_up)
    async with TyntecClient(api_key="k", base_url=server.url) as api:
        with pytest.raises(TransportError, match="closed the connection"):
            await api.chat.send(messages.text("+491701234567", "hi", from_="4930123"))
    # A send that may have reached tyntec is not retried by the client (the sender retries
    # it later, at least once).
    assert len(server.requests) == 1
