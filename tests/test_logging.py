"""Logging: readable lines or JSON lines with the conversation's fields, never a secret."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import aiohttp

from botkit._logging import JsonFormatter, LineFormatter, RedactSecrets

from .server_helpers import ROOT, eventually, serving


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
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "botkit", "--log-json", "serve", "flows/echo.yaml", "--sandbox",
        "--port", str(port), "--sandbox-port", str(sandbox_port), "--db", str(tmp_path / "b.db"),
        "--webhook-token", secret, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
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
