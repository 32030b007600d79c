"""The README's bot command works: the echo bot answers on the embedded sandbox."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_echo_bot_answers_what_the_user_types() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "echo_bot.py"),
         "--bot-port", str(free_port()), "--sandbox-port", str(free_port())],
        input="hi\nwhere is my order?\n", capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    replies = [line for line in result.stdout.splitlines() if line.startswith("bot :")]
    assert replies == ["bot : You said: hi", "bot : You said: where is my order?"]
