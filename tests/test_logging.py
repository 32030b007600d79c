"""Logging: readable lines or JSON lines with the conversation's fields, never a secret."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from collections.abc import Callable
from pathlib import Path

import aiohttp

from botkit._logging import JsonFormatter, LineFormatter, RedactSecrets

from .server_helpers import eventually, serve_on_sandbox, serving


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    entry = logging.LogRecord("botkit.server", logging.INFO, __file__, 1, message, args, None)
    entry.__dict__.update(extra)
    return entry


def test_secrets_are_masked_wherever_they_appear() -> None:
    redact = RedactSecrets()
    for text, secret in [
        ("POST /webhook?token=s3cr3t-value&x=1", "s3cr3t-value"),
        ("headers {'apikey': 'k3y-value'}", "k3y-value"),
        ("Authorization: Bearer abc.def.ghi", "abc.def.ghi"),
    ]:
        entry = record("%s", text)
        redact.filter(entry)
        assert secret not in entry.getMessage()
        assert "***" in entry.getMessage()


def test_a_message_is_formatted_once_and_masked_in_every_format() -> None:
    entry = record("%s %s: %d%% done, token=%s", "support", "4917", 50, "s3cr3t")
    RedactSecrets().filter(entry)
    assert (entry.msg, entry.args) == ("support 4917: 50% done, token=***", None)
    line = LineFormatter("%(levelname)s %(message)s").format(entry)
    assert line == "INFO support 4917: 50% done, token=***"
    assert json.loads(JsonFormatter().format(entry))["message"] == entry.msg


def test_line_times_read_as_logging_writes_them() -> None:
    layout = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    ours, stdlib = LineFormatter(layout), logging.Formatter(layout)
    # Within one second, across a second's edge, back again (records from other threads
    # can arrive out of order), and far later.
    for created in (1_700_000_000.001, 1_700_000_000.999, 1_700_000_001.5, 1_700_000_000.25,
                    1_800_000_000.0):  # fmt: skip
        entry = record("handled")
        entry.created, entry.msecs = created, (created - int(created)) * 1000
        assert ours.format(entry) == stdlib.format(entry)
    dated = LineFormatter("%(asctime)s", datefmt="%H:%M")
    assert dated.format(entry) == logging.Formatter("%(asctime)s", datefmt="%H:%M").format(entry)


def test_json_lines_carry_the_conversation() -> None:
    line = JsonFormatter().format(
        record("handled", flow="support", user="4917", state="welcome", event="message")
    )
    data = json.loads(line)
    assert data["message"] == "handled"
    assert (data["flow"], data["user"], data["state"], data["event"]) == (
        "support", "4917", "welcome", "message",
    )  # fmt: skip
    assert data["level"] == "info"


async def test_serve_logs_json_lines_without_secrets(
    unused_tcp_port_factory: Callable[[], int], tmp_path: Path
) -> None:
    port, sandbox_port = unused_tcp_port_factory(), unused_tcp_port_factory()
    secret = "never-in-the-log-123"
    process = await serve_on_sandbox(
        "flows/echo.yaml",
        tmp_path / "b.db",
        port,
        sandbox_port,
        "--webhook-token",
        secret,
        before=("--log-json",),
        stdout=asyncio.subprocess.PIPE,
    )
    sandbox = f"http://127.0.0.1:{sandbox_port}"
    try:
        async with aiohttp.ClientSession() as session:

            async def answered() -> bool:
                async with session.get(f"{sandbox}/sandbox/messages") as response:
                    return len(await response.json()) == 2

            await eventually(lambda: serving(session, f"http://127.0.0.1:{port}"), timeout=30)
            for text in ("hi", "ping"):
                user = {"from": "+491701234567", "text": text}
                async with session.post(f"{sandbox}/sandbox/inbound", json=user) as response:
                    assert response.status == 200
            await eventually(answered)
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    output = out.decode() + err.decode()
    assert secret not in output
    lines = [json.loads(line) for line in err.decode().splitlines() if line.startswith("{")]
    handled = [entry for entry in lines if entry.get("event") == "message"]
    assert len(handled) == 2
    assert handled[0]["flow"] == "echo"
    assert "handled ((start)->hello hello->echo)" in handled[0]["message"]  # a first move
    assert handled[0]["user"] == "491701234567"
    assert handled[1]["state"] == "echo"
    assert "handled" in handled[1]["message"]


async def test_a_stalled_log_output_does_not_stall_the_bot(
    unused_tcp_port_factory: Callable[[], int], tmp_path: Path
) -> None:
    # The server's stderr is a pipe nobody reads: after its 64 KiB, a write to it blocks.
    # About 250 bytes of log lines per user: 1,000 users fill it four times over.
    port, sandbox_port = unused_tcp_port_factory(), unused_tcp_port_factory()
    process = await serve_on_sandbox("flows/echo.yaml", tmp_path / "b.db", port, sandbox_port)
    sandbox = f"http://127.0.0.1:{sandbox_port}"
    users = [f"+4917{n:08d}" for n in range(1000)]
    try:
        # A stalled bot fails the test in seconds, rather than holding it for aiohttp's 5 min.
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
            await eventually(lambda: serving(session, f"http://127.0.0.1:{port}"), timeout=30)

            async def say_hi(user: str) -> None:
                body = {"from": user, "text": "hi"}
                async with session.post(f"{sandbox}/sandbox/inbound", json=body) as response:
                    assert response.status == 200

            for start in range(0, len(users), 50):
                await asyncio.gather(*(say_hi(user) for user in users[start : start + 50]))

            async def all_welcomed() -> bool:
                async with session.get(f"{sandbox}/sandbox/messages") as response:
                    return len(await response.json()) == len(users)

            await eventually(all_welcomed, timeout=60)
    finally:
        # Stopped as usual, and its stderr read at last: the log lines kept meanwhile are
        # all written before it exits.
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), timeout=60)
    handled = [line for line in err.decode().splitlines() if ": message handled" in line]
    assert len(handled) == len(users)
