"""The ``botkit`` command: ``python -m botkit``, and ``botkit sandbox`` as a real process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator

import aiohttp
import pytest

import botkit
from botkit.testing import WebhookRecorder


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "botkit", *args], capture_output=True, text=True, timeout=60
    )


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
