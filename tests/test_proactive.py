"""Conversations started from outside: POST /conversations, botkit start, and WhatsApp's
24-hour customer-care window."""

from __future__ import annotations

import asyncio
import logging
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from botkit.sandbox import Sandbox
from botkit.server import operator

from .server_helpers import ROOT, USER, eventually, refusing, texts_to

API = "operator-s3cret"
REMINDER = ROOT / "flows" / "reminder.yaml"
DEEP: list[Any] = []
for _ in range(500):
    DEEP = [DEEP]


async def start(bot: Any, body: dict[str, Any], token: str | None = API) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with bot.session.post(bot.url + "/conversations", json=body, headers=headers) as answer:
        return answer.status, await answer.json(content_type=None)


async def test_outside_the_window_the_template_is_sent(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str]
) -> None:
    stand_in, _ = bot_sandbox
    bot = await start_bot(REMINDER, api_token=API)
    status, answer = await start(bot, {"flow": "reminder", "to": f"+{USER}",
                                       "vars": {"day": "Friday"}})  # fmt: skip
    assert status == 201, answer
    assert answer == {
        "flow": "reminder", "user": USER, "state": "remind", "ended": False,
        "sent": ["template appointment_reminder(Friday, 10:00)"],
    }  # fmt: skip
    await eventually(lambda: texts_to(stand_in) == ["template:appointment_reminder"])
    (sent,) = stand_in.chat.messages.values()
    assert sent.request["whatsapp"]["from"] == "4930123457"
    # The user answers the account the reminder came from: the reminder flow handles it.
    await stand_in.user_says(USER, text="yes", to="4930123457")
    await eventually(lambda: texts_to(stand_in)[-1] == "Thanks, see you Friday at 10:00!")


async def test_a_text_outside_the_window_without_a_template_is_refused(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str], tmp_path: Path
) -> None:
    stand_in, _ = bot_sandbox
    flow = tmp_path / "nudge.yaml"
    flow.write_text(
        textwrap.dedent("""\
        flow: nudge
        start: a
        from: {whatsapp: "4930123456"}
        states:
          a: {say: "Hey, come back!", final: true}
    """)
    )
    bot = await start_bot(flow, api_token=API)
    status, problem = await start(bot, {"flow": "nudge", "to": USER})
    assert status == 422
    assert "only templates outside the 24-hour customer-care window" in problem["detail"]
    assert "outside_window" in problem["detail"]
    assert f"{flow}:5:" in problem["detail"]  # where in the flow
    await bot.server.sender.idle()
    assert stand_in.chat.messages == {}  # reported before it was sent, not after


async def test_in_progress_conflicts_unless_restarted(
    start_bot: Any, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await start_bot(REMINDER, api_token=API)
    body = {"flow": "reminder", "to": USER}
    assert (await start(bot, body))[0] == 201
    with caplog.at_level(logging.INFO, logger="botkit"):
        status, problem = await start(bot, body)
    assert status == 409
    assert "in progress" in problem["detail"]
    # The caller's answer, not the bot's failure: no ERROR line for a campaign run again.
    [refusal] = [r for r in caplog.records if "(start) refused" in r.getMessage()]
    assert refusal.levelno == logging.INFO
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    status, answer = await start(bot, {**body, "restart": True, "vars": {"day": "Monday"}})
    assert status == 201
    assert answer["sent"] == ["template appointment_reminder(Monday, 10:00)"]


async def test_the_same_request_id_starts_once(start_bot: Any) -> None:
    bot = await start_bot(REMINDER, api_token=API)
    body = {"flow": "reminder", "to": USER, "requestId": "campaign-7-user-1"}
    assert (await start(bot, body))[0] == 201
    assert await start(bot, body) == (200, {"accepted": False, "duplicate": True})


async def test_two_starts_at_once_with_one_request_id_start_once_and_both_answer(
    start_bot: Any,
) -> None:
    bot = await start_bot(REMINDER, api_token=API)
    body = {"flow": "reminder", "to": USER, "requestId": "campaign-11-user-1"}
    answers = await asyncio.gather(start(bot, body), start(bot, body))
    statuses = sorted(status for status, _ in answers)
    # The started one answers with its turn, not a 202 after the 10 s wait: the duplicate
    # does not take the future it waits on.
    assert statuses == [200, 201], answers


async def test_a_refused_start_does_not_use_its_request_id_up(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str]
) -> None:
    stand_in, _ = bot_sandbox
    bot = await start_bot(REMINDER, api_token=API)
    assert (await start(bot, {"flow": "reminder", "to": USER}))[0] == 201
    campaign = {"flow": "reminder", "to": USER, "requestId": "campaign-8-user-1",
                "vars": {"day": "Monday"}}  # fmt: skip
    status, problem = await start(bot, campaign)
    assert status == 409  # the first reminder is still in progress
    assert "in progress" in problem["detail"]
    assert (await start(bot, campaign))[0] == 409  # run again: refused again, not a duplicate

    await stand_in.user_says(USER, text="yes", to="4930123457")  # the first one ends
    await eventually(lambda: texts_to(stand_in)[-1].startswith("Thanks, see you"))
    status, answer = await start(bot, campaign)  # the campaign run once more: now it starts
    assert status == 201, answer
    # The user wrote within 24 hours: the text, not the template.
    assert answer["sent"] == [
        "Reminder: your appointment is Monday at 10:00. Reply YES to confirm or NO to cancel."
    ]
    assert await start(bot, campaign) == (200, {"accepted": False, "duplicate": True})


async def test_a_request_id_refused_too_often_says_so(
    start_bot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(operator, "MAX_TRIES_PER_REQUEST", 2)
    bot = await start_bot(REMINDER, api_token=API)
    assert (await start(bot, {"flow": "reminder", "to": USER}))[0] == 201
    body = {"flow": "reminder", "to": USER, "requestId": "campaign-9"}
    assert [(await start(bot, body))[0] for _ in range(2)] == [409, 409]
    status, problem = await start(bot, body)
    assert status == 409
    assert "'campaign-9' was refused 2 times" in problem["detail"]
    assert "in progress" in problem["detail"]  # the last refusal's reason
    status, problem = await start(bot, {**body, "requestId": "two\nlines"})
    assert status == 400
    assert "requestId" in problem["detail"]


async def test_an_operator_reads_a_users_conversations(start_bot: Any) -> None:
    bot = await start_bot(REMINDER, api_token=API)
    assert (await start(bot, {"flow": "reminder", "to": USER, "vars": {"day": "Friday"}}))[0] == 201

    async def read(user: str, token: str = API) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"}
        async with bot.session.get(f"{bot.url}/conversations/{user}", headers=headers) as answer:
            return answer.status, await answer.json(content_type=None)

    status, found = await read(f"+{USER}")
    assert status == 200
    assert [(c["flow"], c["state"], c["vars"]["day"]) for c in found] == [
        ("reminder", "remind", "Friday")
    ]
    assert await read("491700000000") == (200, [])  # a number with no conversation
    status, problem = await read("someone")  # not a number at all: said so, not []
    assert (status, problem["detail"]) == (400, "the user is a phone number")
    assert (await read(f"+{USER}", token="wrong"))[0] == 401


async def test_operator_api_input_and_authentication(start_bot: Any) -> None:
    bot = await start_bot(REMINDER, api_token=API)
    assert (await start(bot, {"flow": "reminder", "to": USER}, token=None))[0] == 401
    assert (await start(bot, {"flow": "reminder", "to": USER}, token="wrong"))[0] == 401
    status, problem = await start(bot, {"flow": "nope", "to": USER})
    assert (status, problem["title"]) == (404, "Unknown flow")
    assert (await start(bot, {"flow": "reminder", "to": "12"}))[0] == 400
    assert (await start(bot, {"flow": "reminder", "to": USER, "vars": [1]}))[0] == 400
    # A missing or mistyped field is the caller's mistake (400), not an unknown flow (404),
    # and a restart that is not a boolean is not taken for one ("no" is truthy).
    for wrong, field in [
        ({"to": USER}, "flow must name"),
        ({"flow": ["reminder"], "to": USER}, "flow must name"),
        ({"flow": "reminder", "to": USER, "restart": "no"}, "restart"),
        ({"flow": "reminder", "to": USER, "from": 4930}, "from must be"),
        # Read (aiohttp's JSON goes deep) but not storable: a 500 before.
        ({"flow": "reminder", "to": USER, "vars": {"deep": DEEP}}, "cannot be stored as JSON"),
    ]:
        status, problem = await start(bot, wrong)
        assert status == 400, wrong
        assert field in problem["detail"]
    without = await start_bot(REMINDER)
    status, problem = await start(without, {"flow": "reminder", "to": USER})
    assert status == 403
    assert "--api-token" in problem["detail"]


async def test_a_start_the_database_refuses_is_answered_503(start_bot: Any, tmp_path: Path) -> None:
    bot = await start_bot(REMINDER, api_token=API)
    with refusing(tmp_path / "bot.db", "INSERT ON inbox"):  # as a full disk would
        status, problem = await start(bot, {"flow": "reminder", "to": USER})
    assert status == 503  # try again later; it was a 500, "the server failed"
    assert "try again later" in problem["detail"]
    status, _ = await start(bot, {"flow": "reminder", "to": USER})
    assert status == 201


async def test_botkit_start_command(start_bot: Any, bot_sandbox: tuple[Sandbox, str]) -> None:
    stand_in, _ = bot_sandbox
    bot = await start_bot(REMINDER, api_token=API)

    async def botkit_start(*args: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "botkit", "start", "reminder", "--to", f"+{USER}",
            "--server", bot.url, "--token", API, *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()

    code, out, _ = await botkit_start("--var", "day=Friday", "--var", "time=11:15")
    assert code == 0
    assert f"started reminder for {USER}: now in remind" in out
    assert "sent: template appointment_reminder(Friday, 11:15)" in out
    code, _, err = await botkit_start()
    assert code == 1
    assert "in progress" in err
    await eventually(lambda: texts_to(stand_in) == ["template:appointment_reminder"])
    # With a request id, a campaign script can run again: the second run starts nobody twice.
    code, out, _ = await botkit_start("--restart", "--request-id", "campaign-10-user-1")
    assert (code, out.splitlines()[0]) == (0, f"started reminder for {USER}: now in remind")
    code, out, _ = await botkit_start("--restart", "--request-id", "campaign-10-user-1")
    assert (code, out) == (0, "already started for request id campaign-10-user-1: nothing sent\n")
    await eventually(lambda: len(texts_to(stand_in)) == 2)
    await asyncio.sleep(0.2)
    assert len(texts_to(stand_in)) == 2  # one reminder per run that started one
