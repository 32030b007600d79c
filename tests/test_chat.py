"""``botkit chat`` driven by a script on stdin, as a person would type it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """\
hi
/image https://example.com/cat.jpg my cat
1
12345
123456
2
/otp
0000000
{otp}
hello again
/wait 9m
/wait 1m
/status seen
/location 51.5 7.49 tyntec office
/state
/history
/reset
/state
/nonsense
/quit
"""


def run_chat(*args: str, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "botkit", "chat", *args], input=script, capture_output=True,
        text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip


def test_a_scripted_chat_with_the_support_flow() -> None:
    result = run_chat("flows/support.yaml", "--name", "Ana", script=SCRIPT)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    code = re.search(r"the sandbox sent the code (\d+)", result.stdout)
    assert code, result.stdout
    greeting = "bot: Hi Ana! Reply 1 for your order status, 2 to talk to a person."
    assert lines[:23] == [
        "# chatting with support as +491701234567 on whatsapp; /help for commands",
        "you: hi",
        greeting,
        "you: /image https://example.com/cat.jpg my cat",
        "bot: Thanks for the image, but I only read text here.",
        "you: 1",
        "bot: What's your order number? (6 digits)",
        "you: 12345",
        "bot: Order numbers have 6 digits, like 123456.",
        "you: 123456",
        "bot: template order_status(123456, shipped)",
        greeting,
        "you: 2",
        "bot: We sent you a code by SMS. Please type it here.",
        "you: /otp",
        f"# the sandbox sent the code {code.group(1)}",
        "you: 0000000",
        "bot: That code is not right, try again.",
        "you: {otp}",
        "bot: Thanks, you're verified. A person will write to you shortly.",
        "you: hello again",
        greeting,
        "you: /wait 9m",
    ]
    rest = lines[23:]
    assert rest[:5] == [
        "# (9m later)",
        "you: /wait 1m",
        "# (1m later)",
        "bot: Still there? Reply 1 or 2.",
        "you: /status seen",
    ]
    assert "bot: Sorry, I didn't get that. Reply 1 or 2." in rest  # a location is no answer
    assert "# flow support, state welcome, vars {'order': None}" in rest  # a new conversation
    assert any(line.startswith("# ") and "user: hi -> welcome; bot: Hi Ana!" in line
               for line in rest)  # fmt: skip
    assert "# conversation forgotten" in rest
    assert "# no conversation yet" in rest
    assert "! unknown command /nonsense; /help lists them" in result.stderr


def test_chat_on_sms_shows_the_channel() -> None:
    result = run_chat("flows/echo.yaml", "--channel", "sms", script="hi\nping\n")
    assert result.returncode == 0, result.stderr
    assert "bot (sms): ping" in result.stdout.splitlines()


def test_chat_can_make_a_channel_undeliverable_to_try_a_fallback() -> None:
    # The sandbox reports every message delivered at once, so `/status failed` comes too
    # late for a state that moves on when its message is delivered (flows/fallback.yaml).
    script = "hi\n/undeliverable whatsapp\nAB123456\n/undeliverable telegram\n"
    result = run_chat("flows/fallback.yaml", script=script)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    notice = "Parcel AB123456 is out for delivery and arrives today."
    assert lines[-5:] == [
        "# (from now on, whatsapp cannot deliver to you)",
        "you: AB123456",
        f"bot (not delivered): {notice}",
        f"bot (sms): {notice}",  # the WhatsApp message failed: the flow's SMS fallback
        "you: /undeliverable telegram",
    ]
    assert "! usage: /undeliverable whatsapp|sms|tyntecEcho" in result.stderr


def test_a_regex_that_would_run_for_ever_is_stopped_and_the_bot_goes_on(tmp_path: Path) -> None:
    # Python's re took 1.4 s on 24 letters and a "!" with this pattern, minutes on 30: the
    # event loop, every user's, waited. Here the user sends 4,000.
    flow = tmp_path / "words.yaml"
    flow.write_text(
        "flow: words\n"
        "start: ask\n"
        "on_error: Sorry, that went wrong.\n"
        "states:\n"
        "  ask:\n"
        "    ask: Some words?\n"
        "    expect: {regex: '^(\\w+\\s?)+$'}\n"
        "    retry: Words only, please.\n"
        "    save: words\n"
        "    goto: done\n"
        "  done: {say: 'Thanks!', final: true}\n"
    )
    script = f"hi\n{'a' * 4000}!\nsome words\n"
    result = run_chat(str(flow), script=script)  # its timeout fails the test if re were back
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-3:] == ["bot: Sorry, that went wrong.", "you: some words", "bot: Thanks!"]
    assert "words.yaml:7:" in result.stderr  # the expect's line
    assert "took over 0.1 s on a message of 4001 characters and was stopped" in result.stderr


def test_chat_with_a_broken_flow_says_what_is_wrong(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("flow: x\nstart: nowhere\nstates:\n  a: {final: true}\n")
    result = run_chat(str(broken), script="hi\n")
    assert result.returncode == 1
    assert f"{broken}:2:8: start state 'nowhere' is not defined" in result.stderr


def test_conversations_show_tells_the_whole_story(tmp_path: Path) -> None:
    db = tmp_path / "story.db"
    script = "hi\n1\n12\n123456\n2\n0000000\n{otp}\n"
    chat = run_chat("flows/support.yaml", "--name", "Ana", "--db", str(db), script=script)
    assert chat.returncode == 0, chat.stderr
    result = subprocess.run(
        [sys.executable, "-m", "botkit", "conversations", "show", "+491701234567", "--db", str(db)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    story = [line.strip() for line in result.stdout.splitlines()]
    assert story[0] == "support / 491701234567: ended"
    lines = [re.sub(r"^\d\d:\d\d:\d\d ", "", line) for line in story[3:]]
    greeting = "bot: Hi Ana! Reply 1 for your order status, 2 to talk to a person. (delivered)"
    code = re.search(r"user: (\d+) -> end", result.stdout)
    assert code
    assert lines == [
        f"user: hi -> welcome; {greeting}",
        "user: 1 -> ask_order; bot: What's your order number? (6 digits) (delivered)",
        "user: 12; bot: Order numbers have 6 digits, like 123456. (delivered)",
        "user: 123456 -> order_status -> welcome; bot: template order_status(123456, shipped)"
        f" (delivered); {greeting}",
        "user: 2 -> verify; bot: We sent you a code by SMS. Please type it here. (delivered)",
        "user: 0000000; bot: That code is not right, try again. (delivered)",
        f"user: {code.group(1)} -> end; bot: Thanks, you're verified. A person will write to you"
        " shortly. (delivered)",
    ]
