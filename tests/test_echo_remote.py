"""Testing a deployed bot through tyntecEcho: ``botkit echo-chat``, ``botkit test --remote``
and the loop guard, with the sandbox playing tyntec's platform between test and bot."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from botkit.sandbox import Notifier, Sandbox
from botkit.tyntec import TyntecClient, messages

from .server_helpers import ROOT, eventually
from .test_serve_e2e import TOKEN, ServeProcess

API_TOKEN = "operator-token"
PSEUDO_USER = "+4915712345678"


@pytest.fixture
async def deploy(
    aiohttp_server: Any, tmp_path: Path, unused_tcp_port_factory: Callable[[], int]
) -> AsyncIterator[Callable[[Path], Any]]:
    """``botkit serve FLOW`` as a process, behind the sandbox as tyntec's platform."""
    processes: list[ServeProcess] = []

    async def make(flow: Path) -> tuple[Sandbox, str, str]:
        port = unused_tcp_port_factory()
        sandbox = Sandbox(
            webhook_url=f"http://127.0.0.1:{port}/webhook?token={TOKEN}",
            notifier=Notifier(retry_delay=0.05),
        )
        server = await aiohttp_server(sandbox.app())
        sandbox_url = str(server.make_url("")).rstrip("/")
        process = ServeProcess(flow, tmp_path / f"{flow.stem}.db", port, sandbox_url,
                               "--api-token", API_TOKEN)  # fmt: skip
        processes.append(process)
        await process.start()
        return sandbox, sandbox_url, f"http://127.0.0.1:{port}"

    yield make
    for process in processes:
        if process.process is not None:
            await process.stop()


async def botkit(*args: str, stdin: str = "") -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "botkit", *args, cwd=ROOT, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(stdin.encode()), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_echo_chat_talks_to_the_support_flow(deploy: Any) -> None:
    _, sandbox_url, bot_url = await deploy(ROOT / "flows" / "support.yaml")
    code, out, err = await botkit(
        "echo-chat", "--bot", bot_url, "--as", PSEUDO_USER, "--api-url", sandbox_url,
        "--api-key", "sandbox", "--token", API_TOKEN,
        stdin="hi\n1\n12\n123456\n",
    )  # fmt: skip
    assert code == 0, err
    assert out.splitlines()[1:] == [
        "you: hi",
        "bot: Hi there! Reply 1 for your order status, 2 to talk to a person.",
        "you: 1",
        "bot: What's your order number? (6 digits)",
        "you: 12",
        "bot: Order numbers have 6 digits, like 123456.",
        "you: 123456",
        "bot: template order_status(123456, shipped)",
        "bot: Hi there! Reply 1 for your order status, 2 to talk to a person.",
    ]


async def test_echo_chat_needs_the_operator_token(deploy: Any) -> None:
    _, sandbox_url, bot_url = await deploy(ROOT / "flows" / "echo.yaml")
    code, _, err = await botkit(
        "echo-chat", "--bot", bot_url, "--as", PSEUDO_USER, "--api-url", sandbox_url,
        "--api-key", "sandbox", "--token", "wrong", stdin="hi\n",
    )  # fmt: skip
    assert code == 1
    assert "401" in err


@pytest.mark.parametrize("flow", sorted(p.stem for p in (ROOT / "flows").glob("*.yaml")), ids=str)
async def test_the_example_flow_tests_pass_remotely(deploy: Any, flow: str) -> None:
    _, sandbox_url, bot_url = await deploy(ROOT / "flows" / f"{flow}.yaml")
    code, out, err = await botkit(
        "test", f"tests/flows/{flow}.test.yaml", "--remote", bot_url, "--api-url", sandbox_url,
        "--api-key", "sandbox", "--token", API_TOKEN,
    )  # fmt: skip
    assert code == 0, out + err
    summary = out.strip().splitlines()[-1]
    assert summary.endswith(" 0 failed") or ", 0 failed," in summary
    assert "PASS" in out or "SKIP" in out


async def test_the_loop_guard_stops_a_misconfigured_echo(deploy: Any) -> None:
    sandbox, sandbox_url, bot_url = await deploy(ROOT / "flows" / "echo.yaml")
    sandbox.chat.echo_everything = True  # the bot's own replies now come back to it
    async with TyntecClient("sandbox", base_url=sandbox_url) as api:
        await api.chat.send(messages.text(PSEUDO_USER, "hi", channels="tyntecEcho",
                                          from_="botkit-echo", reply_back=True))  # fmt: skip

        def from_bot() -> list[Any]:
            return [m for m in sandbox.chat.messages.values() if m.part("tyntecEcho").get("from")
                    == "botkit-echo" and m.to.lstrip("+") == PSEUDO_USER.lstrip("+")]  # fmt: skip

        await eventually(lambda: len(from_bot()) >= 2)  # the user's line and the welcome
        await asyncio.sleep(2.0)  # a loop would keep sending
        assert len(from_bot()) == 2
        async with aiohttp.ClientSession() as session, session.get(f"{bot_url}/metrics") as got:
            metrics = await got.text()
    assert "botkit_loops_stopped_total 1" in metrics
