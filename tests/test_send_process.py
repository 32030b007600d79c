"""Sending from a process of its own (``botkit serve --sender process``): the same outcomes
as sending in the server's process, and nothing lost when the child dies."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import signal
import struct
import subprocess
import sys
import termios
from typing import Any

import pytest

from botkit._logging import setup_logging
from botkit.sandbox import Fault, Sandbox
from botkit.server._send_wire import encode, message_to_wire
from botkit.server.send_process import SendProcess
from botkit.store import OutboxMessage, SQLiteStore

from .server_helpers import BOT, USER, eventually, mo_message, texts_to

GREETING = "Hi Ana! Reply 1 for your order status, 2 to talk to a person."


async def test_replies_go_out_from_the_child_and_are_recorded(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str]
) -> None:
    stand_in, _ = bot_sandbox
    bot = await start_bot(sending="process")
    sender = bot.server.sender
    assert isinstance(sender, SendProcess)
    assert sender.pid is not None
    assert sender.pid != os.getpid()
    await stand_in.user_says(USER, text="hi", name="Ana", to=BOT)
    await stand_in.user_says(USER, text="1", to=BOT)
    await eventually(lambda: len(texts_to(stand_in)) == 2)
    assert texts_to(stand_in) == [GREETING, "What's your order number? (6 digits)"]
    await sender.idle()

    async def recorded() -> bool:  # the record follows tyntec's 202 with the next commit
        return [m.status for m in await bot.store.outbox(("support", USER))] == ["sent"] * 2

    await eventually(recorded)
    sent = await bot.store.outbox(("support", USER))
    assert {m.message_id for m in sent} == set(stand_in.chat.messages)
    assert bot.server.metrics.value("botkit_sends_total") == 2
    # The server's process heard of each id: its loop guard knows the bot's own messages.
    assert all(bot.server.loop_guard.is_echo_of_ours(m.message_id or "") for m in sent)


async def test_the_child_retries_and_gives_up_as_the_server_would(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str]
) -> None:
    stand_in, _ = bot_sandbox
    stand_in.faults.add(Fault("/chat-api/v2/messages", status=503, count=2, method="POST"))
    bot = await start_bot(sending="process")
    await bot.post(mo_message("hi"))
    await eventually(lambda: texts_to(stand_in))

    async def recorded() -> bool:
        (sent,) = await bot.store.outbox(("support", USER))
        return (sent.status, sent.attempts) == ("sent", 3)

    await eventually(recorded)
    assert len(stand_in.chat.messages) == 1
    assert bot.server.metrics.value("botkit_send_retries_total") == 2

    stand_in.faults.add(Fault("/chat-api/v2/messages", status=400, count=1, method="POST"))
    await bot.post(mo_message("1"))

    async def refused() -> bool:
        messages = await bot.store.outbox(("support", USER))
        return len(messages) == 2 and messages[1].status == "failed"

    await eventually(refused)
    assert bot.server.metrics.value("botkit_send_failures_total") == 1


async def test_a_killed_child_is_replaced_and_its_open_messages_go_out(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str]
) -> None:
    stand_in, _ = bot_sandbox
    # The first send hangs (then fails): the message is open when the child dies.
    stand_in.faults.add(
        Fault("/chat-api/v2/messages", status=500, count=1, method="POST", delay=30.0)
    )
    bot = await start_bot(sending="process")
    sender = bot.server.sender
    assert isinstance(sender, SendProcess)
    sender.restart_delay = 0.05
    first_child = sender.pid
    assert first_child is not None
    await bot.post(mo_message("hi"))
    await eventually(lambda: stand_in.faults.triggered == 1)
    assert sender.busy
    os.kill(first_child, signal.SIGKILL)

    await eventually(lambda: texts_to(stand_in) == [GREETING.replace("Ana", "there")])
    assert sender.restarts == 1
    assert sender.pid not in (None, first_child)
    await sender.idle()

    async def recorded() -> bool:
        (sent,) = await bot.store.outbox(("support", USER))
        return sent.status == "sent"

    await eventually(recorded)
    # The new child carries on with later messages too.
    await bot.post(mo_message("1"))
    await eventually(lambda: len(texts_to(stand_in)) == 2)


async def test_stopping_flushes_the_child_before_the_store_closes(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str], tmp_path: Any
) -> None:
    stand_in, _ = bot_sandbox
    stand_in.faults.add(Fault("/chat-api/v2/messages", status=0, count=1, method="POST", delay=0.3))
    bot = await start_bot(sending="process")
    sender = bot.server.sender
    assert isinstance(sender, SendProcess)
    child = sender.pid
    await bot.post(mo_message("hi"))
    await eventually(lambda: stand_in.faults.triggered == 1)
    assert sender.busy  # the send is under way while the server stops
    await bot.server.stop()

    assert texts_to(stand_in) == [GREETING.replace("Ana", "there")]
    assert child is not None
    await eventually(lambda: not _alive(child))
    store = SQLiteStore(tmp_path / "bot.db")
    await store.open()
    try:
        (sent,) = await store.outbox(("support", USER))
        assert sent.status == "sent"
        assert sent.message_id in stand_in.chat.messages
    finally:
        await store.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A child that exited but was not reaped yet shows as a zombie.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


async def test_the_child_logs_in_the_servers_format(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str], capfd: pytest.CaptureFixture[str]
) -> None:
    stand_in, _ = bot_sandbox
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("botkit").level)
    setup_logging(json_lines=True)  # as `botkit --log-json serve` does
    logging.getLogger("botkit").setLevel(logging.INFO)
    try:
        stand_in.faults.add(Fault("/chat-api/v2/messages", status=503, count=1, method="POST"))
        bot = await start_bot(sending="process")
        await bot.post(mo_message("hi"))
        await eventually(lambda: texts_to(stand_in))
        await bot.server.sender.idle()
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
        logging.getLogger("botkit").setLevel(saved[2])
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line[:1] == "{"]
    (retry,) = [entry for entry in lines if "retry in" in entry["message"]]
    assert retry["level"] == "warning"
    assert retry["logger"] == "botkit.server"


async def test_a_child_that_cannot_start_is_retried_less_and_less_often(
    start_bot: Any, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await start_bot(sending="process")
    sender = bot.server.sender
    assert isinstance(sender, SendProcess)
    sender.restart_delay = 0.05
    # From now on every child fails at once (as with a broken install): no report ever.
    sender._arguments = lambda: ["--no-such-option"]  # type: ignore[method-assign]
    first = sender.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    await eventually(lambda: sender.restarts >= 4)
    delays = [
        record.getMessage().rsplit(" ", 1)[1]
        for record in caplog.records
        if "starting a new one" in record.getMessage()
    ]
    assert delays[:4] == ["0.1s", "0.2s", "0.4s", "0.8s"]


async def test_a_child_whose_server_is_gone_ends_quietly_though_its_log_output_stalled() -> None:
    # Every send fails (nothing listens on port 1), and the child logs each try to a pipe
    # that nobody reads, far more than the pipe holds. Then the server is killed: its ends
    # of the child's stdin and stdout close with reports unread.
    read_log, write_log = os.pipe()
    fcntl.fcntl(write_log, fcntl.F_SETPIPE_SZ, 4096)  # one page: full after a few lines
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "botkit.server.send_worker", "--api-url", "http://127.0.0.1:1",
        "--base-delay", "0.01", "--log-level", "INFO",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=write_log,
        env={**os.environ, "TYNTEC_API_KEY": "key"},
    )  # fmt: skip
    os.close(write_log)
    assert child.stdin is not None
    try:
        for number in range(1, 601):  # to 600 users: sent side by side (one user's in order)
            user = f"4917{number:08d}"
            request = {"to": user, "channels": ["whatsapp"],
                       "whatsapp": {"from": BOT, "contentType": "text", "text": "hi"}}  # fmt: skip
            message = OutboxMessage(number, "f", user, request, "pending", 0, 0.0, None, 0.0)
            child.stdin.write(encode(message_to_wire(message)))
        await child.stdin.drain()
        await eventually(lambda: _unread(read_log) >= 3_500, timeout=30)  # the pipe is full

        child._transport.get_pipe_transport(1).close()  # type: ignore[attr-defined]
        child.stdin.close()
        # It ends, though writing its log blocks (a StreamHandler would block it for good).
        assert await asyncio.wait_for(child.wait(), timeout=30) == 0
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    os.set_blocking(read_log, False)
    log = b""
    with contextlib.suppress(BlockingIOError):
        while chunk := os.read(read_log, 65536):
            log += chunk
    os.close(read_log)
    assert b"tyntec POST /chat-api/v2/messages failed" in log  # its first lines, at least
    assert b"Traceback" not in log  # the server's end closing is no error of the child's


def _unread(fd: int) -> int:
    return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]  # type: ignore[no-any-return]


def test_the_sending_process_loads_no_flow_engine() -> None:
    """The child needs the client and the outbox record, not the flow engine (Jinja,
    transitions, YAML), the store or the server: each would cost it memory for nothing."""
    code = "import sys, botkit.server.send_worker; print(' '.join(sorted(sys.modules)))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "botkit.server.sender" in loaded  # the import did happen
    heavy = {"botkit.flow", "botkit.store.sqlite", "botkit.server.app", "jinja2", "transitions"}
    assert heavy.isdisjoint(loaded), sorted(heavy.intersection(loaded))
