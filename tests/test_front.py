"""botkit's webhook front (botkit.server.front) over raw sockets: what it answers itself,
what it relays to aiohttp, in which order, and what it refuses."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest

from botkit.sandbox import Sandbox

from .conftest import BOT_TOKEN
from .server_helpers import ROOT, USER, eventually, mo_message, texts_to

Answer = tuple[int, dict[str, str], bytes]


def webhook(
    payload: Any, *, path: str = "/webhook", token: str = BOT_TOKEN, **headers: str
) -> bytes:
    body = json.dumps(payload).encode()
    lines = [
        f"POST {path}?token={token} HTTP/1.1", "Host: bot", "Content-Type: application/json",
        f"Content-Length: {len(body)}", *_header_lines(headers),
    ]  # fmt: skip
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def get(path: str, **headers: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: bot", *_header_lines(headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _header_lines(headers: dict[str, str]) -> list[str]:
    return [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]


async def read_answer(reader: asyncio.StreamReader) -> Answer:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    status_line, *lines = head.decode("latin-1").split("\r\n")[:-2]
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await asyncio.wait_for(reader.readexactly(length), 10)
    return int(status_line.split()[1]), headers, body


async def exchange(url: str, *requests: bytes) -> list[Answer]:
    """Send ``requests`` in one write on one connection; read an answer to each."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(b"".join(requests))
        return [await read_answer(reader) for _ in requests]
    finally:
        writer.close()


async def closed(reader: asyncio.StreamReader) -> bool:
    return await asyncio.wait_for(reader.read(), 10) == b""


@pytest.fixture
async def bot(start_bot: Any, bot_sandbox: tuple[Sandbox, str]) -> Any:
    """The echo flow, its welcome sent: what the user writes next comes back."""
    served = await start_bot(ROOT / "flows" / "echo.yaml")
    assert await served.post(mo_message("hi")) == (200, {"accepted": True})
    await eventually(lambda: len(texts_to(bot_sandbox[0])) == 1)
    return served


async def test_webhooks_on_one_connection_are_answered_in_order_and_run(
    bot: Any, bot_sandbox: tuple[Sandbox, str]
) -> None:
    stand_in, _ = bot_sandbox
    first, second = mo_message("one"), mo_message("two")
    answers = await exchange(bot.url, webhook(first), webhook(second), webhook(first))
    assert [(status, body) for status, _, body in answers] == [
        (200, b'{"accepted": true}'), (200, b'{"accepted": true}'),
        (200, b'{"accepted": false, "duplicate": true}'),
    ]  # fmt: skip
    headers = answers[0][1]
    assert headers["content-type"] == "application/json"
    assert headers["date"].endswith(" GMT")
    await eventually(lambda: texts_to(stand_in)[1:] == ["one", "two"])


async def test_requests_that_are_not_webhooks_are_relayed_to_aiohttp_in_order(
    bot: Any, bot_sandbox: tuple[Sandbox, str]
) -> None:
    stand_in, _ = bot_sandbox
    # Pipelined in one write: the boundary between the front's request and aiohttp's is
    # inside one read; a webhook after the relayed request goes to the app's own route.
    answers = await exchange(
        bot.url, webhook(mo_message("one")), get("/healthz"), webhook(mo_message("two")),
        get("/nowhere"),
    )  # fmt: skip
    assert [status for status, _, _ in answers] == [200, 200, 200, 404]
    assert json.loads(answers[1][2])["status"] == "ok"
    assert json.loads(answers[2][2]) == {"accepted": True}
    assert answers[3][1]["content-type"] == "application/problem+json"
    await eventually(lambda: texts_to(stand_in)[1:] == ["one", "two"])


async def test_a_connection_that_starts_with_another_request_is_aiohttps(bot: Any) -> None:
    (health,) = await exchange(bot.url, get("/healthz"))
    assert health[0] == 200
    assert json.loads(health[2])["flows"] == ["echo"]
    # A GET of a webhook's path is not a webhook either: aiohttp answers it.
    (wrong_method,) = await exchange(bot.url, get(f"/webhook?token={BOT_TOKEN}"))
    assert wrong_method[0] == 405
    assert json.loads(wrong_method[2])["title"] == "Method Not Allowed"


async def test_a_relayed_request_after_separate_writes_keeps_its_body(start_bot: Any) -> None:
    bot = await start_bot(ROOT / "flows" / "echo.yaml", api_token="operator")
    host, port = bot.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(webhook(mo_message("one")))
    assert (await read_answer(reader))[0] == 200
    body = b"[1, 2]"  # JSON, but not an object: only a handler that read it can say so
    writer.write(
        b"POST /conversations HTTP/1.1\r\nHost: bot\r\nTransfer-Encoding: chunked\r\n"
        b"Authorization: Bearer operator\r\nContent-Type: application/json\r\n\r\n"
        b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    )
    status, _, answer = await read_answer(reader)
    writer.close()
    assert status == 400
    assert json.loads(answer)["detail"] == "the body must be a JSON object"


async def test_a_wrong_token_is_refused_with_a_problem(bot: Any) -> None:
    (answer,) = await exchange(bot.url, webhook(mo_message("hi"), token="wrong"))
    status, headers, body = answer
    assert status == 401
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["title"] == "Unauthorized"
    assert bot.server.metrics.value("botkit_events_rejected_total", reason="unauthorized") == 1
    (answer,) = await exchange(
        bot.url, webhook(mo_message("hi"), token="wrong", Authorization=f"Bearer {BOT_TOKEN}")
    )
    assert answer[0] == 200  # the header's token counts, as in aiohttp's routes


async def test_bad_bodies_are_problems_and_the_connection_goes_on(bot: Any) -> None:
    not_json = (
        b"POST /webhook?token=%s HTTP/1.1\r\nContent-Length: 3\r\n\r\n{x}" % BOT_TOKEN.encode()
    )
    answers = await exchange(bot.url, not_json, webhook({"event": "MoMessage"}), get("/healthz"))
    assert [status for status, _, _ in answers] == [400, 400, 200]
    assert json.loads(answers[0][2])["title"] == "Invalid JSON"
    assert json.loads(answers[1][2])["title"] == "Invalid notification"


async def test_a_body_over_the_limit_is_refused_and_the_connection_closed(start_bot: Any) -> None:
    bot = await start_bot(ROOT / "flows" / "echo.yaml", max_body=200)
    host, port = bot.url.removeprefix("http://").split(":")
    for request in (
        webhook({"event": "MoMessage", "padding": "x" * 300}),
        b"POST /webhook HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        + (b"64\r\n" + b"x" * 100 + b"\r\n") * 3,  # no length said: the third chunk is over
    ):  # fmt: skip
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(request)
        status, headers, body = await read_answer(reader)
        assert status == 413
        assert headers["connection"] == "close"
        assert "200 bytes" in json.loads(body)["detail"]
        assert await closed(reader)
        writer.close()
    assert bot.server.metrics.value("botkit_events_rejected_total", reason="too_large") == 2


async def test_a_chunked_webhook_is_read_whole(bot: Any, bot_sandbox: tuple[Sandbox, str]) -> None:
    stand_in, _ = bot_sandbox
    body = json.dumps(mo_message("in pieces")).encode()
    request = (
        b"POST /webhook?token=%s HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        % (BOT_TOKEN.encode())
        + b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:10], body[10:]))
        + b"0\r\n\r\n"
    )
    (answer,) = await exchange(bot.url, request)
    assert answer[0] == 200
    await eventually(lambda: texts_to(stand_in)[1:] == ["in pieces"])


async def test_what_is_not_http_gets_400_and_a_closed_connection(bot: Any) -> None:
    host, port = bot.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(webhook(mo_message("hi")) + b"POST /webhook HTTP/1.1\r\nContent-Length: x\r\n\r\n")
    assert (await read_answer(reader))[0] == 200  # what came before is answered first
    status, headers, body = await read_answer(reader)
    assert status == 400
    assert headers["content-type"] == "application/problem+json"
    assert "not an HTTP/1.1 request" in json.loads(body)["detail"]
    assert await closed(reader)
    writer.close()
    assert bot.server.metrics.value("botkit_events_rejected_total", reason="malformed") == 1


async def test_headers_over_the_limit_get_431(bot: Any) -> None:
    huge = webhook(mo_message("hi"), X_Padding="x" * 70_000)
    (answer,) = await exchange(bot.url, huge)
    assert answer[0] == 431


async def test_connection_close_and_http_1_0_are_honoured(bot: Any) -> None:
    host, port = bot.url.removeprefix("http://").split(":")
    for request in (
        webhook(mo_message("a"), Connection="close"),
        webhook(mo_message("b")).replace(b"HTTP/1.1", b"HTTP/1.0", 1),
    ):
        reader, writer = await asyncio.open_connection(host, int(port))
        # What follows a request that closes the connection is not read.
        writer.write(request + webhook(mo_message("never")))
        status, headers, _ = await read_answer(reader)
        assert status == 200
        assert headers["connection"] == "close"
        assert await closed(reader)
        writer.close()


async def test_expect_100_continue_gets_its_interim_answer(bot: Any) -> None:
    host, port = bot.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    request = webhook(mo_message("hi"), Expect="100-continue")
    head, body = request.split(b"\r\n\r\n", 1)
    writer.write(head + b"\r\n\r\n")
    assert (
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        == b"HTTP/1.1 100 Continue\r\n\r\n"
    )
    writer.write(body)
    assert (await read_answer(reader))[0] == 200
    writer.close()


async def test_a_client_that_stops_sending_still_gets_its_answer(bot: Any) -> None:
    host, port = bot.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(webhook(mo_message("hi")))
    writer.write_eof()
    assert (await read_answer(reader))[0] == 200
    assert await closed(reader)
    writer.close()


async def test_idle_connections_are_closed(start_bot: Any) -> None:
    bot = await start_bot(ROOT / "flows" / "echo.yaml", keepalive_timeout=0.2)
    host, port = bot.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(webhook(mo_message("hi")))
    assert (await read_answer(reader))[0] == 200
    assert await closed(reader)
    writer.close()


async def test_many_waiting_requests_pause_reading_until_answered(
    bot: Any, bot_sandbox: tuple[Sandbox, str]
) -> None:
    stand_in, _ = bot_sandbox
    host, port = bot.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    texts = [f"m{n}" for n in range(40)]  # more than wait at once (front.MAX_WAITING)
    writer.write(b"".join(webhook(mo_message(text)) for text in texts))
    assert [(await read_answer(reader))[0] for _ in texts] == [200] * 40
    # Reading went on once the answers were out: the connection takes the next one.
    writer.write(webhook(mo_message("after")))
    assert (await read_answer(reader))[0] == 200
    writer.close()
    await eventually(lambda: texts_to(stand_in, USER)[1:] == [*texts, "after"])


async def test_stopping_answers_in_flight_and_closes_idle_connections(bot: Any) -> None:
    host, port = bot.url.removeprefix("http://").split(":")
    idle_reader, idle_writer = await asyncio.open_connection(host, int(port))
    busy_reader, busy_writer = await asyncio.open_connection(host, int(port))
    request = webhook(mo_message("just in time"))
    busy_writer.write(request[:-5])  # a request the front has begun to read
    await asyncio.sleep(0.1)
    stopping = asyncio.ensure_future(bot.runner.cleanup())
    assert await closed(idle_reader)
    busy_writer.write(request[-5:])
    status, headers, _ = await read_answer(busy_reader)
    assert status == 200
    assert headers["connection"] == "close"
    assert await closed(busy_reader)
    await asyncio.wait_for(stopping, 10)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, int(port)), timeout=1).close()
    idle_writer.close()
    busy_writer.close()


async def test_an_upgrade_request_goes_to_aiohttp_as_it_came(bot: Any) -> None:
    upgrade = get(f"/webhook?token={BOT_TOKEN}", Connection="Upgrade", Upgrade="websocket")
    (answer,) = await exchange(bot.url, upgrade)
    assert answer[0] == 405  # aiohttp's answer: no webhook is a websocket


async def test_http_1_0_keep_alive_is_said_and_kept(bot: Any) -> None:
    host, port = bot.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    for text in ("a", "b"):
        request = webhook(mo_message(text), Connection="keep-alive")
        writer.write(request.replace(b"HTTP/1.1", b"HTTP/1.0", 1))
        status, headers, _ = await read_answer(reader)
        assert (status, headers["connection"]) == (200, "keep-alive")
    writer.close()


async def test_a_half_closed_client_gets_its_relayed_answer_too(bot: Any) -> None:
    host, port = bot.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(webhook(mo_message("hi")) + get("/healthz"))
    writer.write_eof()
    assert (await read_answer(reader))[0] == 200
    status, _, body = await read_answer(reader)
    assert (status, json.loads(body)["status"]) == (200, "ok")
    assert await closed(reader)  # answered, aiohttp closes it rather than keeping it alive
    writer.close()


async def test_a_half_closed_client_gets_each_pipelined_relayed_answer(bot: Any) -> None:
    host, port = bot.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(webhook(mo_message("hi")) + get("/healthz") + get("/healthz"))
    writer.write_eof()
    statuses = [(await read_answer(reader))[0] for _ in range(3)]
    assert statuses == [200, 200, 200]
    writer.close()


async def test_a_failing_webhook_is_a_500_problem_and_the_connection_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from aiohttp import web

    from botkit.server._problems import Reply
    from botkit.server.front import WebhookFront

    async def take(path: str, token: str, body: bytes) -> Reply:
        if body == b"boom":
            raise RuntimeError("a bug")
        return Reply(200, b'{"took": "%s"}' % path.encode())

    runner = web.ServerRunner(web.Server(lambda request: web.Response(text="aiohttp")))
    await runner.setup()
    assert runner.server is not None
    front = WebhookFront(take, runner.server, paths={"/hook"}, max_body=100)
    listening = await asyncio.get_running_loop().create_server(front, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    post = b"POST /hook HTTP/1.1\r\nContent-Length: 4\r\n\r\n"
    answers = await exchange(f"http://127.0.0.1:{port}", post + b"boom", post + b"fine")
    assert [(status, json.loads(body)) for status, _, body in answers] == [
        (500, {"type": "about:blank", "title": "Internal Server Error", "status": 500,
               "detail": "the server failed; see its log"}),
        (200, {"took": "/hook"}),
    ]  # fmt: skip
    assert "a webhook failed" in caplog.text
    listening.close()
    await front.close(timeout=1)
    await runner.cleanup()


def post_conversations(body: bytes, **headers: str) -> bytes:
    lines = [
        "POST /conversations HTTP/1.1", "Host: bot", "Authorization: Bearer operator",
        "Content-Type: application/json", f"Content-Length: {len(body)}", *_header_lines(headers),
    ]  # fmt: skip
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def test_a_relayed_request_expecting_100_continue_gets_it_after_the_webhooks(
    start_bot: Any,
) -> None:
    bot = await start_bot(ROOT / "flows" / "echo.yaml", api_token="operator")
    host, port = bot.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    body = b"[1, 2]"  # JSON, but not an object: only a handler that read it can say so
    # The body is held back until the interim answer comes, as curl does.
    writer.write(webhook(mo_message("one")) + post_conversations(body, Expect="100-continue"))
    assert (await read_answer(reader))[0] == 200
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(body)
    status, _, answer = await read_answer(reader)
    writer.close()
    assert status == 400
    assert json.loads(answer)["detail"] == "the body must be a JSON object"


async def test_a_relayed_body_over_the_limit_gets_a_413_problem(start_bot: Any) -> None:
    bot = await start_bot(ROOT / "flows" / "echo.yaml", api_token="operator", max_body=200)
    body = json.dumps({"user": "+491701234567", "padding": "x" * 300}).encode()
    health, too_large = await exchange(bot.url, get("/healthz"), post_conversations(body) + body)
    assert health[0] == 200
    assert too_large[0] == 413
    assert too_large[1]["content-type"] == "application/problem+json"
    assert "200 bytes" in json.loads(too_large[2])["detail"]


async def test_a_large_relayed_body_waiting_for_a_webhook_pauses_reading() -> None:
    from aiohttp import web

    from botkit.server._problems import Reply
    from botkit.server._relay import RELAY_BACKLOG
    from botkit.server.front import WebhookFront

    committed = asyncio.Event()

    async def take(path: str, token: str, body: bytes) -> Reply:
        await committed.wait()  # the webhook's commit, held until the test lets it go
        return Reply(200, b'{"took": true}')

    async def length(request: web.BaseRequest) -> web.Response:
        return web.Response(text=str(len(await request.read())))

    runner = web.ServerRunner(web.Server(length))
    await runner.setup()
    assert runner.server is not None
    front = WebhookFront(take, runner.server, paths={"/hook"}, max_body=100)
    listening = await asyncio.get_running_loop().create_server(front, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    large = b"x" * (4 * RELAY_BACKLOG)
    writer.write(
        b"POST /hook HTTP/1.1\r\nHost: bot\r\nContent-Length: 2\r\n\r\n{}"
        b"POST /other HTTP/1.1\r\nHost: bot\r\nContent-Length: %d\r\n\r\n%s" % (len(large), large)
    )
    await eventually(lambda: len(front.connections) == 1)  # accepted
    (connection,) = front.connections
    await eventually(lambda: connection.paused_for == 1)
    assert connection.relay is not None
    # What waits is bounded by the backlog and one read, not the body's size.
    assert sum(map(len, connection.relay.waiting)) < RELAY_BACKLOG + 256 * 1024
    committed.set()
    assert (await read_answer(reader))[0] == 200
    status, _, answer = await read_answer(reader)
    assert (status, answer) == (200, str(len(large)).encode())
    assert connection.paused_for == 0
    writer.close()
    listening.close()
    await front.close(timeout=1)
    await runner.cleanup()


async def test_a_chunked_relayed_body_ends_where_it_should_between_pipelined_requests(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str]
) -> None:
    stand_in, _ = bot_sandbox
    bot = await start_bot(ROOT / "flows" / "echo.yaml", api_token="operator")
    body = b"[1, 2]"
    chunked = (
        b"POST /conversations HTTP/1.1\r\nHost: bot\r\nTransfer-Encoding: chunked\r\n"
        b"Authorization: Bearer operator\r\nContent-Type: application/json\r\n\r\n"
        b"3\r\n%s\r\n3\r\n%s\r\n0\r\n\r\n" % (body[:3], body[3:])
    )
    # One write: a webhook for the front, the chunked request for aiohttp (its body chunked
    # anew), and a webhook aiohttp gets after it, which it finds only if that body ended
    # where it should.
    answers = await exchange(
        bot.url, webhook(mo_message("hi")), chunked, webhook(mo_message("after"))
    )
    assert [status for status, _, _ in answers] == [200, 400, 200]
    assert json.loads(answers[1][2])["detail"] == "the body must be a JSON object"
    await eventually(lambda: texts_to(stand_in)[-1:] == ["after"])
