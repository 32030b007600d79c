"""``botkit send`` and ``botkit otp``: one message or one code, straight through the client."""

from __future__ import annotations

import asyncio
import os
import sys

from botkit.sandbox import Sandbox

USER = "+491701234567"


async def botkit(sandbox_url: str, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "TYNTEC_API_KEY": "sandbox", "TYNTEC_API_URL": sandbox_url}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "botkit", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_send_each_kind(sandbox: Sandbox, sandbox_url: str) -> None:
    calls = [
        ("--text", "Your parcel is here", "--from", "4930123"),
        ("--media", "https://example.com/a.pdf", "--kind", "document", "--caption", "Invoice",
         "--from", "4930123"),
        ("--template", "order_status", "--param", "123456", "--param", "shipped",
         "--channel", "whatsapp", "--channel", "sms", "--from", "whatsapp=4930123",
         "--from", "sms=Shop", "--sms-text", "Order 123456 shipped"),
        ("--location", "51.5,7.49", "--name", "tyntec", "--from", "4930123"),
    ]  # fmt: skip
    for call in calls:
        code, out, err = await botkit(sandbox_url, "send", "--to", USER, *call)
        assert code == 0, err
        assert out.startswith("sent: ")
    kinds = [m.request["whatsapp"]["contentType"] for m in sandbox.chat.messages.values()]
    assert kinds == ["text", "media", "template", "location"]
    template = list(sandbox.chat.messages.values())[2]
    assert template.channels == ["whatsapp", "sms"]
    assert template.request["sms"] == {"contentType": "text", "text": "Order 123456 shipped",
                                       "from": "Shop"}  # fmt: skip


async def test_send_refuses_what_tyntec_would(sandbox_url: str) -> None:
    code, _, err = await botkit(sandbox_url, "send", "--to", USER, "--text", "x" * 4097,
                                "--from", "4930123")  # fmt: skip
    assert code == 2
    assert "whatsapp takes at most 4096" in err
    code, _, err = await botkit(sandbox_url, "send", "--to", USER, "--text", "a", "--media", "b")
    assert code == 2
    assert "exactly one of" in err


async def test_send_mistakes_are_said_as_the_options_that_make_them(
    sandbox: Sandbox, sandbox_url: str
) -> None:
    code, _, err = await botkit(
        sandbox_url,
        "send",
        "--to",
        USER,
        "--text",
        "a",
        "--channel",
        "whatsapp",
        "--channel",
        "sms",
        "--from",
        "sms=Shop",
    )
    assert code == 2
    assert "Error: a whatsapp message needs the account it is sent from: give --from" in err
    code, _, err = await botkit(
        sandbox_url, "send", "--to", USER, "--location", "91,7.49", "--from", "4930123"
    )
    assert code == 2
    assert err.splitlines()[-1] == "Error: latitude: Input should be less than or equal to 90"
    code, _, err = await botkit(
        sandbox_url, "send", "--to", USER, "--media", "ftp://a/b.png", "--from", "4930123"
    )
    assert code == 2
    assert err.splitlines()[-1] == "Error: url: must be an http(s) URL, got 'ftp://a/b.png'"
    code, _, err = await botkit(
        sandbox_url, "send", "--to", USER, "--template", "hello", "--channel", "whatsapp",
        "--channel", "sms", "--from", "whatsapp=4930123",
    )  # fmt: skip
    assert code == 2
    assert err.splitlines()[-1] == (  # it said "pass sms_text=", the client's parameter
        "Error: SMS cannot carry a template message: give --sms-text, the text SMS sends instead"
    )
    assert not sandbox.chat.messages


async def test_otp_send_and_check(sandbox: Sandbox, sandbox_url: str) -> None:
    code, out, err = await botkit(sandbox_url, "otp", "send", USER)
    assert code == 0, err
    otp_id = out.split("otp id: ")[1].split()[0]
    real = sandbox.twofa.otps[otp_id].code
    code, out, _ = await botkit(sandbox_url, "otp", "check", otp_id, "0" if real != "0" else "1")
    assert (code, out.strip()) == (1, "wrong code")
    code, out, _ = await botkit(sandbox_url, "otp", "check", otp_id, real)
    assert (code, out.strip()) == (0, "valid: the number is verified")


async def test_otp_errors_are_clear(sandbox_url: str) -> None:
    code, _, err = await botkit(sandbox_url, "otp", "send", "12")
    assert code == 1
    assert "Invalid" in err or "valid E.164" in err


async def test_send_to_something_that_is_not_a_number(sandbox: Sandbox, sandbox_url: str) -> None:
    code, _, err = await botkit(
        sandbox_url, "send", "--to", "12", "--text", "hi", "--channel", "tyntecEcho",
        "--channel", "sms", "--from", "tyntecEcho=bot", "--from", "sms=Shop",
    )  # fmt: skip
    assert code == 2
    assert err.splitlines()[-1] == (
        "Error: Invalid value for --to: '12' is not a phone number; sms sends to numbers in "
        "international form, like +491701234567"
    )
    assert not sandbox.chat.messages
    # tyntecEcho's users are names, not numbers.
    code, _, err = await botkit(sandbox_url, "send", "--to", "ana", "--text", "hi",
                                "--channel", "tyntecEcho", "--from", "bot")  # fmt: skip
    assert code == 0, err
    assert [m.request["to"] for m in sandbox.chat.messages.values()] == ["ana"]
