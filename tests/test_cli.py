"""The ``botkit`` command: ``python -m botkit``, and ``botkit sandbox`` as a real process."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

import botkit
from botkit.testing import WebhookRecorder


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "botkit", *args],
        capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[1],
    )  # fmt: skip


def test_python_dash_m_botkit_is_the_command() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"botkit, version {botkit.__version__}"
    assert "sandbox" in run("--help").stdout


@pytest.fixture
async def sandbox_process(unused_tcp_port: int, webhook: WebhookRecorder) -> AsyncIterator[str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "botkit", "sandbox",
        "--port", str(unused_tcp_port), "--webhook", webhook.url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{unused_tcp_port}"
    try:
        async with aiohttp.ClientSession() as session, asyncio.timeout(20):
            while True:
                try:
                    async with session.get(f"{url}/sandbox") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
        yield url
    finally:
        process.terminate()
        await process.wait()


async def test_sandbox_command_accepts_reports_and_refuses(
    sandbox_process: str, webhook: WebhookRecorder
) -> None:
    valid = {
        "to": "+491701234567",
        "channels": ["whatsapp"],
        "whatsapp": {"from": "4930123456", "contentType": "text", "text": "Hello"},
    }
    invalid = {**valid, "whatsapp": {"from": "4930123456", "contentType": "text"}}
    async with aiohttp.ClientSession(headers={"apikey": "sandbox"}) as session:
        async with session.post(f"{sandbox_process}/chat-api/v2/messages", json=valid) as response:
            assert response.status == 202
            message_id = (await response.json())["messageId"]
        async with session.post(
            f"{sandbox_process}/chat-api/v2/messages", json=invalid
        ) as response:
            assert response.status == 400
            problem = await response.json(content_type=None)
    dlr = await webhook.wait_for(lambda e: e.get("messageId") == message_id)
    assert dlr["event"] == "MessageStatus::delivered"
    assert problem["violations"] == [
        {"field": "validate.request.whatsapp.text", "message": "must not be empty"}
    ]


def _not_sqlite(db: Path) -> None:
    db.write_text("name,number\nAna,+491701234567\n")


def _newer_schema(db: Path) -> None:
    with contextlib.closing(sqlite3.connect(db)) as connection, connection:
        connection.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        connection.execute("INSERT INTO meta VALUES ('schema', '999')")


@pytest.mark.parametrize(
    ("make", "where", "error"),
    [
        (_not_sqlite, "bot.db", "file is not a database; it is not a SQLite database"),
        (_newer_schema, "bot.db", "it has schema 999, newer than this botkit knows"),
        (Path.mkdir, "bot.db", "it is a folder; --db names the database's file"),
        (_not_sqlite, "bot.db/inner.db", "cannot make its folder"),
    ],
)
def test_serve_on_a_database_it_cannot_use_says_why(
    tmp_path: Path, unused_tcp_port_factory: Callable[[], int],
    make: Callable[[Path], object], where: str, error: str,
) -> None:  # fmt: skip
    make(tmp_path / "bot.db")
    port, sandbox_port = unused_tcp_port_factory(), unused_tcp_port_factory()
    result = run(
        "serve", "flows/echo.yaml", "--sandbox", "--db", str(tmp_path / where),
        "--port", str(port), "--sandbox-port", str(sandbox_port),
    )  # fmt: skip
    assert result.returncode == 1
    assert f"Error: cannot open the database {tmp_path / where}: " in result.stderr
    assert error in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [("conversations", "list"), ("chat", "flows/echo.yaml")])
def test_other_commands_on_a_file_that_is_not_a_database_say_why(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    _not_sqlite(tmp_path / "bot.db")
    result = run(*command, "--db", str(tmp_path / "bot.db"))
    assert result.returncode == 1
    assert "file is not a database; it is not a SQLite database" in result.stderr
    assert "Traceback" not in result.stderr
    assert "Unclosed" not in result.stderr  # what chat had started is stopped


def test_chat_on_a_database_whose_folder_is_a_file_says_why(tmp_path: Path) -> None:
    _not_sqlite(tmp_path / "notes")
    result = run("chat", "flows/echo.yaml", "--db", str(tmp_path / "notes" / "bot.db"))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: cannot open the database {tmp_path / 'notes' / 'bot.db'}: cannot make its"
        f" folder {tmp_path / 'notes'}: File exists"
    )
