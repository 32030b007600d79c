"""The webhook server in-process: a real SQLite file, real HTTP on 127.0.0.1, the sandbox as
tyntec. Each guarantee of the server has its test here or in test_serve_e2e.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from botkit.flow import load_flow
from botkit.sandbox import Fault, Sandbox
from botkit.server import BotServer, Router, RoutingError
from botkit.store import NewEvent, OutboxMessage, SQLiteStore

from . import flow_actions
from .conftest import BOT_TOKEN
from .server_helpers import BOT, ROOT, USER, eventually, mo_message, refusing, texts_to


def flow_file(tmp_path: Path, text: str, name: str = "flow.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


async def test_walks_the_support_flow(start_bot: Any, bot_sandbox: tuple[Sandbox, str]) -> None:
    stand_in, _ = bot_sandbox
    await start_bot()
    await stand_in.user_says(USER, text="hi", name="Ana", to=BOT)
    await eventually(lambda: texts_to(stand_in) == [
        "Hi Ana! Reply 1 for your order status, 2 to talk to a person."])  # fmt: skip
    await stand_in.user_says(USER, text="1", to=BOT)
    await stand_in.user_says(USER, text="123456", to=BOT)
    await eventually(lambda: len(texts_to(stand_in)) == 4)
    assert texts_to(stand_in)[1:] == [
        "What's your order number? (6 digits)",
        "template:order_status",
        "Hi Ana! Reply 1 for your order status, 2 to talk to a person.",
    ]


async def test_duplicate_deliveries_are_answered_but_not_processed_twice(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str]
) -> None:
    stand_in, _ = bot_sandbox
    bot = await start_bot()
    message = mo_message("hi")
    assert await bot.post(message) == (200, {"accepted": True})
    assert await bot.post(message) == (200, {"accepted": False, "duplicate": True})
    await eventually(lambda: texts_to(stand_in))
    await bot.server.processor.workers.idle()
    await bot.server.sender.idle()
    assert len(texts_to(stand_in)) == 1
    assert bot.server.metrics.value("botkit_events_duplicate_total") == 1


async def test_a_message_and_its_turn_commit_together_and_a_retry_changes_nothing(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str]
) -> None:
    stand_in, _ = bot_sandbox
    bot = await start_bot(ROOT / "flows" / "echo.yaml")

    async def delivered() -> bool:  # the sandbox's delivery reports are turns too
        return all(m.delivery for m in await bot.store.outbox(("echo", USER)))

    await bot.post(mo_message("hi"))
    # Its reply's delivery report queued behind it would make "ping" wait its turn.
    await eventually(lambda: len(texts_to(stand_in)) == 1)
    await eventually(delivered)
    await bot.server.processor.workers.idle()
    message = mo_message("ping")
    assert await bot.post(message) == (200, {"accepted": True})
    await eventually(lambda: len(texts_to(stand_in)) == 2)
    # Stored already processed, by the one commit that accepted it.
    events = await bot.store.inbox_events(("echo", USER))
    assert [e["processed_at"] == e["received_at"] for e in events if e["kind"] == "message"] == [
        True, True]  # fmt: skip
    await eventually(delivered)
    await bot.server.processor.workers.idle()
    (before,) = await bot.store.conversations(flow="echo")
    history = await bot.store.history(("echo", USER))
    assert await bot.post(message) == (200, {"accepted": False, "duplicate": True})
    (after,) = await bot.store.conversations(flow="echo")
    assert after.version == before.version
    assert len(await bot.store.history(("echo", USER))) == len(history)
    await bot.server.sender.idle()
    assert texts_to(stand_in)[1:] == ["ping"]


async def test_an_action_runs_once_for_a_message_and_its_retry(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str], tmp_path: Path
) -> None:
    stand_in, _ = bot_sandbox
    flow = flow_file(
        tmp_path,
        """\
        flow: acting
        start: a
        states:
          a:
            say: "ready"
            on:
              - if: {text: [note]}
                call: tests.flow_actions:record_call
                say: "noted"
              - if: {text: [bye]}
                goto: end
          end: {final: true}
    """,
    )
    flow_actions.CALLS.clear()
    bot = await start_bot(flow)
    await bot.post(mo_message("hi"))
    message = mo_message("note")
    assert await bot.post(message) == (200, {"accepted": True})
    assert await bot.post(message) == (200, {"accepted": False, "duplicate": True})
    await eventually(lambda: texts_to(stand_in) == ["ready", "noted"])
    await bot.server.processor.workers.idle()
    assert flow_actions.CALLS == ["note"]


async def test_messages_of_one_user_arriving_together_are_answered_in_inbox_order(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str]
) -> None:
    stand_in, _ = bot_sandbox
    bot = await start_bot(ROOT / "flows" / "echo.yaml")
    await bot.post(mo_message("hi"))
    await eventually(lambda: len(texts_to(stand_in)) == 1)
    # Sent at once: some find the conversation idle and run their turn before they are
    # accepted, the rest queue behind them. Whichever way, the inbox order is kept.
    statuses = await asyncio.gather(*(bot.post(mo_message(f"m{i}")) for i in range(30)))
    assert all(status == 200 for status, _ in statuses)
    events = await bot.store.inbox_events(("echo", USER))
    accepted = [e["payload"]["content"]["text"] for e in events if e["kind"] == "message"][1:]
    assert sorted(accepted) == sorted(f"m{i}" for i in range(30))
    await eventually(lambda: texts_to(stand_in)[1:] == accepted)


async def test_an_echo_and_its_status_share_a_message_id_but_not_a_key(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str]
) -> None:
    bot = await start_bot()
    shared = "77185196-664a-43ec-b14a-fe97036c697f"
    status = {"event": "MessageStatus::delivered", "messageId": shared, "status": "delivered"}
    echo = mo_message("ping", message_id=shared, channel="tyntecEcho")
    assert (await bot.post(status))[1] == {"accepted": True}
    assert (await bot.post(echo))[1] == {"accepted": True}


async def test_a_burst_from_one_user_is_answered_in_order(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str]
) -> None:
    stand_in, _ = bot_sandbox
    bot = await start_bot(ROOT / "flows" / "echo.yaml")
    other = "447700900123"
    for index in range(20):
        assert (await bot.post(mo_message(f"m{index}")))[0] == 200
        await bot.post(mo_message(f"o{index}", user=other))
    # The first message of each starts the conversation (a welcome); the rest are echoed.
    expected = [f"m{i}" for i in range(1, 20)]
    await eventually(lambda: texts_to(stand_in)[1:] == expected)
    await eventually(lambda: texts_to(stand_in, other)[1:] == [f"o{i}" for i in range(1, 20)])


async def test_tyntec_failing_then_accepting_sends_the_reply_once(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str]
) -> None:
    stand_in, _ = bot_sandbox
    stand_in.faults.add(Fault("/chat-api/v2/messages", status=500, count=1, method="POST"))
    stand_in.faults.add(Fault("/chat-api/v2/messages", status=503, count=1, method="POST"))
    bot = await start_bot()
    await bot.post(mo_message("hi"))
    await eventually(lambda: texts_to(stand_in))

    async def recorded() -> bool:  # the record follows tyntec's 202 with the next commit
        (sent,) = await bot.store.outbox(("support", USER))
        return (sent.status, sent.attempts) == ("sent", 3)

    await eventually(recorded)
    assert len(stand_in.chat.messages) == 1
    assert bot.server.metrics.value("botkit_send_retries_total") == 2


async def test_a_message_tyntec_refuses_is_marked_failed_and_the_next_goes_out(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str], tmp_path: Path
) -> None:
    stand_in, _ = bot_sandbox
    flow = flow_file(
        tmp_path,
        """\
        flow: two
        start: a
        states:
          a:
            say: ["first", "second"]
            final: true
    """,
    )
    stand_in.faults.add(Fault("/chat-api/v2/messages", status=400, count=1, method="POST"))
    bot = await start_bot(flow)
    await bot.post(mo_message("hi"))
    await eventually(lambda: texts_to(stand_in) == ["second"])

    async def recorded() -> bool:
        first, second = await bot.store.outbox(("two", USER))
        return (first.status, second.status) == ("failed", "sent")

    await eventually(recorded)


async def test_a_delivery_report_finds_a_user_whose_id_has_a_bar(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str], tmp_path: Path
) -> None:
    # The userContext is botkit|flow|user|entry: split at every "|", a user "ana|test" (any
    # text is a user on tyntecEcho) made five parts, and the report was not the flow's.
    stand_in, _ = bot_sandbox
    flow = flow_file(
        tmp_path,
        """\
        flow: notice
        start: a
        states:
          a:
            say: "Your parcel arrives today."
            on:
              - if: delivered
                goto: b
          b: {final: true}
    """,
    )
    bot = await start_bot(flow)
    user = "ana|test"
    await bot.post(mo_message("hi", user=user))
    await eventually(lambda: texts_to(stand_in, user) == ["Your parcel arrives today."])

    async def moved() -> bool:
        found = await bot.store.conversations(flow="notice", user=user)
        return [c.state for c in found] == ["b"]

    await eventually(moved)
    # An entry that is not ASCII digits is no userContext of botkit's ("²".isdigit() is
    # true, and int("²") failed): recorded as no conversation's, not a 500.
    status, _ = await bot.post(
        {"event": "MessageStatus::delivered", "messageId": "m-1", "status": "delivered",
         "userContext": f"botkit|notice|{USER}|²"}
    )  # fmt: skip
    assert status == 200


@pytest.mark.parametrize("sending", ["inline", "process"])
async def test_a_message_tyntec_refuses_sets_off_the_states_undelivered_rule(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str], tmp_path: Path, sending: str
) -> None:
    stand_in, _ = bot_sandbox
    flow = flow_file(
        tmp_path,
        """\
        flow: notice
        start: a
        states:
          a:
            say: "Your parcel arrives today."
            on:
              - if: undelivered
                say: {text: "Parcel today (by SMS).", channels: [sms], from: Parcels}
                goto: b
              - if: delivered
                goto: b
          b: {final: true}
    """,
    )
    stand_in.faults.add(Fault("/chat-api/v2/messages", status=400, count=1, method="POST"))
    bot = await start_bot(flow, sending=sending)
    await bot.post(mo_message("hi"))
    await eventually(lambda: texts_to(stand_in) == ["Parcel today (by SMS)."])
    (by_sms,) = stand_in.chat.messages.values()
    assert by_sms.channels == ["sms"]

    async def recorded() -> bool:
        first, second = await bot.store.outbox(("notice", USER))
        return (first.status, second.status) == ("failed", "sent")

    await eventually(recorded)
    (conversation,) = await bot.store.conversations(flow="notice")
    assert conversation.state == "b"
    history = [entry.text for entry in await bot.store.history(("notice", USER))]
    (refusal,) = [text for text in history if text.startswith("delivery: refused by tyntec: ")]
    assert "400" in refusal  # why, in tyntec's words

    # Reset, the conversation's state entries count from 1 again: its first message refused
    # is heard as before, not taken for a duplicate of the old conversation's.
    assert await bot.store.reset(("notice", USER))
    stand_in.faults.add(Fault("/chat-api/v2/messages", status=400, count=1, method="POST"))
    await bot.post(mo_message("hi again"))
    await eventually(lambda: texts_to(stand_in) == ["Parcel today (by SMS)."] * 2)


async def test_a_rule_whose_own_message_is_refused_again_is_not_set_off_again(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str], tmp_path: Path
) -> None:
    stand_in, _ = bot_sandbox
    flow = flow_file(
        tmp_path,
        """\
        flow: stubborn
        start: a
        states:
          a:
            say: "one"
            on:
              - if: undelivered
                say: "again"
              - if: {text: [menu]}
                goto: a
    """,
    )
    stand_in.faults.add(Fault("/chat-api/v2/messages", status=400, count=10, method="POST"))
    bot = await start_bot(flow)
    await bot.post(mo_message("hi"))

    async def both_failed() -> bool:
        sent = await bot.store.outbox(("stubborn", USER))
        return [m.status for m in sent] == ["failed", "failed"]

    await eventually(both_failed)
    await bot.server.processor.workers.idle()
    await bot.server.sender.idle()
    # "one" refused: the rule ran and said "again"; "again" refused: not a second time.
    assert stand_in.faults.triggered == 2
    assert len(await bot.store.outbox(("stubborn", USER))) == 2


DEEP: list[Any] = []
for _ in range(500):
    DEEP = [DEEP]


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        (b"{not json", 400, "not JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (json.dumps({"event": "MoMessage", "messageId": "m", "channel": "whatsapp",
                     "content": {"contentType": "text", "text": "x"}}).encode(), 400, "from"),
        (json.dumps({"event": "MoMessage", "messageId": "m", "channel": "whatsapp",
                     "from": "4917"}).encode(), 400, "content"),
        # Every Chat API notification names its event: a body without one is no notification.
        (b"{}", 400, "event"),
        (json.dumps({"messageId": "m", "from": "4917"}).encode(), 400, "event"),
        # Empty ids would make one conversation of every sender without a number, and one
        # duplicate of every message without an id.
        (json.dumps({"event": "MoMessage", "messageId": "m", "channel": "whatsapp",
                     "from": "", "content": {"contentType": "text", "text": "x"}}).encode(),
         400, "from"),
        (json.dumps({"event": "MoMessage", "messageId": "", "channel": "whatsapp",
                     "from": "4917", "content": {"contentType": "text", "text": "x"}}).encode(),
         400, "messageId"),
        (json.dumps({"event": "MessageStatus::delivered", "messageId": ""}).encode(),
         400, "messageId"),
        # A channel tyntec adds is taken; text that names no channel is not.
        (json.dumps({"event": "MoMessage", "messageId": "m", "channel": "x" * 100_000,
                     "from": "4917", "content": {"contentType": "text", "text": "x"}}).encode(),
         400, "channel"),
        # Read (JSON parsers go 1,024 levels deep) but not storable (orjson writes 254): a
        # 503, and tyntec would have sent it again for ever.
        (json.dumps(mo_message("hi", extra=DEEP)).encode(), 400, "cannot be stored as JSON"),
        (json.dumps({"event": "Brand::new", "extra": DEEP}).encode(), 400,
         "cannot be stored as JSON"),
    ],
)  # fmt: skip
async def test_bad_input_gets_a_problem(
    start_bot: Any, body: bytes, status: int, fragment: str
) -> None:
    bot = await start_bot()
    async with bot.session.post(
        bot.url + "/webhook", data=body, headers={"Content-Type": "application/json"}
    ) as response:
        assert response.status == status
        assert response.content_type == "application/problem+json"
        problem = await response.json(content_type=None)
    assert fragment in problem["detail"]
    assert (await bot.post(mo_message("still serving")))[0] == 200


async def test_oversized_bodies_are_refused(start_bot: Any) -> None:
    bot = await start_bot(max_body=4096)
    status, problem = await bot.post(mo_message("x" * 5000))
    assert status == 413
    assert "4096 bytes" in problem["detail"]


async def test_unknown_fields_and_events_are_accepted(start_bot: Any) -> None:
    bot = await start_bot()
    assert (await bot.post(mo_message("hi", somethingNew={"a": 1})))[0] == 200
    assert (await bot.post(mo_message("hi", channel="viber")))[0] == 200  # a channel tyntec adds
    assert (await bot.post({"event": "Brand::new", "x": 1}))[1] == {"accepted": True}
    group = {"event": "WhatsAppGroupEvent::userJoined", "groupId": "g1", "users": [4917]}
    assert (await bot.post(group))[1] == {"accepted": True}


async def test_the_webhook_token_is_required(start_bot: Any) -> None:
    bot = await start_bot()
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.post(bot.url + "/webhook", json=mo_message("hi")) as response:
            assert response.status == 401
            assert response.content_type == "application/problem+json"
        async with anonymous.post(
            bot.url + "/webhook", json=mo_message("hi"), params={"token": "wrong"}
        ) as response:
            assert response.status == 401
        async with anonymous.post(
            bot.url + "/webhook", json=mo_message("hi"), params={"token": BOT_TOKEN}
        ) as response:
            assert response.status == 200
        async with anonymous.get(bot.url + "/healthz") as response:
            assert response.status == 200  # health and metrics need no token


async def test_a_failing_action_leaves_the_conversation_consistent(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str], tmp_path: Path
) -> None:
    stand_in, _ = bot_sandbox
    flow = flow_file(
        tmp_path,
        """\
        flow: fragile
        start: a
        states:
          a:
            say: "ready"
            on:
              - if: {text: [boom]}
                call: tests.flow_actions:explode
                goto: b
              - if: {text: [fine]}
                say: "fine"
          b: {say: "never", final: true}
    """,
    )
    bot = await start_bot(flow)
    await bot.post(mo_message("hi"))
    await bot.post(mo_message("boom"))
    await bot.post(mo_message("fine"))
    await eventually(lambda: texts_to(stand_in) == ["ready", "fine"])
    (conversation,) = await bot.store.conversations(flow="fragile")
    assert conversation.state == "a"
    events = await bot.store.inbox_events(("fragile", USER))
    errors = [e["error"] for e in events if e["kind"] == "message"]
    assert errors[0] is None
    assert "the order system is down" in errors[1]


async def test_a_value_the_store_cannot_keep_fails_the_event_not_the_store(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str], tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    # Before, the turn's write failed on every try ("the store failed; trying the event
    # again"), and the user's later messages waited behind it for good.
    stand_in, _ = bot_sandbox
    flow = flow_file(
        tmp_path,
        """\
        flow: tagger
        start: a
        states:
          a:
            say: "ready"
            on:
              - if: {text: [tag]}
                call: tests.flow_actions:keep_a_set
                say: "tagged"
              - if: {text: [fine]}
                say: "fine"
              - if: {text: [bye]}
                goto: b
          b: {final: true}
    """,
    )
    bot = await start_bot(flow)
    await bot.post(mo_message("hi"))
    await bot.post(mo_message("tag"))
    await bot.post(mo_message("fine"))
    await eventually(lambda: texts_to(stand_in) == ["ready", "fine"])
    errors = [e["error"] for e in await bot.store.inbox_events(("tagger", USER))]
    assert "action tests.flow_actions:keep_a_set put a set in vars['tags']" in errors[1]
    assert f"{flow}:8:" in errors[1]  # the call's line
    assert "the store failed" not in caplog.text


async def test_a_follower_that_falls_behind_is_let_go(start_bot: Any) -> None:
    # A client of GET /conversations/{user}/messages that stops reading must not grow the
    # server's memory with every message the bot sends: its stream ends at a backlog.
    bot = await start_bot(api_token="op")
    bot.server.watchers.backlog = 3
    headers = {"Authorization": "Bearer op"}
    async with bot.session.get(
        f"{bot.url}/conversations/{USER}/messages", headers=headers
    ) as stream:
        assert stream.status == 200
        await stream.content.readline()  # ": following ...": the server has the follower
        for n in range(5):  # all at once: the stream's task cannot read in between
            request = {
                "to": USER,
                "channels": ["whatsapp"],
                "whatsapp": {"from": BOT, "contentType": "text", "text": f"m{n}"},
            }
            bot.server.watchers.publish(
                OutboxMessage(n, "support", USER, request, "sent", 1, 0.0, f"id{n}", 0.0),
                f"id{n}",
            )  # fmt: skip
        body = (await asyncio.wait_for(stream.content.read(), 5)).decode()
    sent = [
        json.loads(line[6:])["messageId"] for line in body.splitlines() if line.startswith("data: ")
    ]
    assert sent == ["id0", "id1"]  # two of the backlog's three places, the last for the end
    assert ": too far behind; the stream ends, follow again" in body
    assert bot.server.watchers.followers(USER) == 0  # let go: no more messages queued for it


@pytest.mark.parametrize("sending", ["inline", "process"])
async def test_a_user_whose_message_fails_hears_the_flows_on_error(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str], tmp_path: Path, sending: str
) -> None:
    stand_in, _ = bot_sandbox
    flow = flow_file(
        tmp_path,
        """\
        flow: fragile
        start: a
        vars: {deliveries: 0}
        on_error: "Sorry {{ user.name or 'there' }}, that failed (in {{ state }}). Try again."
        states:
          a:
            say: "ready"
            on:
              - if: {text: [boom]}
                call: tests.flow_actions:explode
                goto: b
              - if: {text: [fine]}
                say: "fine"
              - if: delivered
                set: {deliveries: "{{ vars.deliveries + 1 }}"}
          b: {say: "never", final: true}
    """,
    )
    bot = await start_bot(flow, sending=sending)

    async def delivered(count: int) -> bool:
        return sum(bool(m.delivery) for m in await bot.store.outbox(("fragile", USER))) == count

    await stand_in.user_says(USER, text="hi", name="Ana", to=BOT)
    await eventually(lambda: delivered(1))
    await stand_in.user_says(USER, text="boom", to=BOT)
    sorry = "Sorry Ana, that failed (in a). Try again."
    await eventually(lambda: texts_to(stand_in) == ["ready", sorry])
    await eventually(lambda: delivered(2))  # the reply's report came back, and was heard
    await stand_in.user_says(USER, text="fine", to=BOT)
    await eventually(lambda: delivered(3))
    await bot.server.processor.workers.idle()

    assert texts_to(stand_in)[-1] == "fine"
    (conversation,) = await bot.store.conversations(flow="fragile")
    assert conversation.state == "a"  # the failed turn moved nothing
    # Reports of "ready" and "fine", sent in state a: the reply to the failure was not sent
    # by the state, so its report sets off none of the state's rules.
    assert conversation.vars["deliveries"] == 2
    events = await bot.store.inbox_events(("fragile", USER))
    errors = [e["error"] for e in events if e["kind"] == "message"]
    assert errors[0] is None
    assert "the order system is down" in errors[1]
    assert errors[2] is None
    assert bot.server.metrics.value("botkit_events_processed_total", outcome="error") == 1


async def test_on_error_answers_a_first_message_and_only_once_a_retried_failure_gives_up(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str], tmp_path: Path
) -> None:
    stand_in, _ = bot_sandbox
    flow = flow_file(
        tmp_path,
        """\
        flow: busy
        start: a
        on_error: "Sorry, try again later."
        states:
          a:
            call: tests.flow_actions:busy
            say: "never"
            final: true
    """,
    )
    bot = await start_bot(flow)
    bot.server.processor.retry_delays = (0.2, 0.2)
    await bot.post(mo_message("hi"))

    async def given_up() -> Any:
        events = await bot.store.inbox_events(("busy", USER))
        (message,) = [e for e in events if e["kind"] == "message"]
        return message["processed_at"] and message["error"]

    assert "the order system is busy" in await eventually(given_up)
    await bot.server.sender.idle()
    # Tried three times; the user hears of it once, when botkit gives up.
    assert texts_to(stand_in) == ["Sorry, try again later."]
    assert await bot.store.conversations(flow="busy") == []  # nothing of it was stored


async def test_an_on_error_that_fails_itself_is_logged_and_the_bot_goes_on(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str], tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    stand_in, _ = bot_sandbox
    flow = flow_file(
        tmp_path,
        """\
        flow: fragile
        start: a
        on_error: "Sorry about {{ vars.order }}."
        states:
          a:
            say: "ready"
            on:
              - if: {text: [boom]}
                call: tests.flow_actions:explode
                goto: a
              - else:
                say: "fine"
    """,
    )
    bot = await start_bot(flow)
    await bot.post(mo_message("hi"))
    await bot.post(mo_message("boom"))
    await bot.post(mo_message("again"))
    await eventually(lambda: texts_to(stand_in) == ["ready", "fine"])
    assert "the flow's on_error failed too" in caplog.text
    assert "the order system is down" in caplog.text  # the event's own error, not lost


async def test_delivery_is_tracked_and_reaches_the_flow(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str], tmp_path: Path
) -> None:
    stand_in, _ = bot_sandbox
    flow = flow_file(
        tmp_path,
        """\
        flow: receipts
        start: a
        states:
          a:
            say: "please read"
            on:
              - if: seen
                say: "thanks for reading"
                goto: done
          done: {final: true}
    """,
    )
    bot = await start_bot(flow)
    await bot.post(mo_message("hi"))
    await eventually(lambda: texts_to(stand_in))
    (first,) = stand_in.chat.messages.values()
    await eventually(lambda: stand_in.chat.messages[first.message_id].last_status)
    await stand_in.chat.report_status(first, "seen")
    await eventually(lambda: texts_to(stand_in) == ["please read", "thanks for reading"])
    sent = await bot.store.outbox(("receipts", USER))
    assert sent[0].message_id == first.message_id
    assert sent[0].delivery == "delivered, seen"


async def test_events_accepted_before_a_crash_are_processed_on_start(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str], tmp_path: Path
) -> None:
    stand_in, _ = bot_sandbox
    store = SQLiteStore(tmp_path / "bot.db")
    await store.open()
    await store.accept(
        [NewEvent("mo:left-behind", "message", mo_message("hi"), "support", USER)], now=time.time()
    )
    await store.close()
    await start_bot()
    await eventually(lambda: texts_to(stand_in))


async def test_a_timeout_fires_after_a_restart(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str], tmp_path: Path
) -> None:
    stand_in, _ = bot_sandbox
    now = [time.time()]
    bot = await start_bot(clock=lambda: now[0])
    await bot.post(mo_message("hi"))
    await eventually(lambda: texts_to(stand_in))
    (conversation,) = await bot.store.conversations()
    assert conversation.timeout_at == pytest.approx(now[0] + 600, abs=5)
    await bot.server.stop()  # the server goes down before the deadline
    now[0] += 601
    await start_bot(clock=lambda: now[0], db=tmp_path / "bot.db")
    await eventually(lambda: texts_to(stand_in)[-1] == "Still there? Reply 1 or 2.")


async def test_a_conversation_the_store_cannot_read_fails_its_events_until_it_is_reset(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str], tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    # A row edited by hand or cut short by a restore. Before, every event of the user was
    # "the store failed; trying the event again" for ever, unanswered, and the reset the
    # operator would reach for failed on the same row.
    stand_in, _ = bot_sandbox
    db = tmp_path / "bot.db"
    bot = await start_bot()
    await bot.post(mo_message("hi"))
    await eventually(lambda: len(texts_to(stand_in)) == 1)
    await bot.server.stop()
    with contextlib.closing(sqlite3.connect(db)) as connection, connection:
        connection.execute("UPDATE conversations SET data = substr(data, 1, 40), timeout_at = 1")

    bot = await start_bot(db=db)
    await bot.post(mo_message("1"))
    await eventually(lambda: len(texts_to(stand_in)) == 2)
    assert (
        texts_to(stand_in)[-1]
        == "Sorry, something went wrong on our side. Please try again in a minute."
    )
    hint = f"`botkit conversations reset +{USER} --flow support` starts it anew"
    assert f"the stored conversation of {USER} with flow 'support' cannot be read" in caplog.text
    assert hint in caplog.text
    assert "the store failed" not in caplog.text
    # Its deadline had passed: the timeout failed once, and its timer does not fire again.
    with contextlib.closing(sqlite3.connect(db)) as connection:
        timeouts = connection.execute("SELECT error FROM inbox WHERE kind = 'timeout'").fetchall()
        (deadline,) = connection.execute("SELECT timeout_at FROM conversations").fetchone()
    assert len(timeouts) == 1
    assert "cannot be read" in timeouts[0][0]
    assert deadline is None

    async def botkit(*args: str) -> str:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "botkit", "conversations", *args, "--db", str(db),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode == 0, err.decode()
        return out.decode() + err.decode()

    listed = await botkit("list")
    assert "0 conversation(s)" in listed
    assert hint in listed
    shown = await botkit("show", f"+{USER}")
    assert f"support / {USER}: unreadable:" in shown
    assert "user: hi -> welcome" in shown  # its story is still there
    assert f"reset 1 conversation(s) with +{USER}" in await botkit("reset", f"+{USER}")
    await bot.post(mo_message("hi"))
    await eventually(lambda: len(texts_to(stand_in)) == 3)
    assert texts_to(stand_in)[-1] == texts_to(stand_in)[0]  # the greeting: anew


async def test_inbound_sms_is_a_conversation_on_sms(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str]
) -> None:
    stand_in, _ = bot_sandbox
    await start_bot(ROOT / "flows" / "echo.yaml")
    await stand_in.user_says("+" + USER, text="hello", to=BOT, api="messaging")
    await eventually(lambda: texts_to(stand_in))
    (message,) = stand_in.chat.messages.values()
    assert message.channels == ["sms"]


async def test_group_messages_are_answered_in_the_group(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str]
) -> None:
    stand_in, _ = bot_sandbox
    bot = await start_bot(ROOT / "flows" / "echo.yaml")
    await bot.post(mo_message("hi", groupId="4930123456-1564131378"))
    await eventually(lambda: stand_in.chat.messages)
    (message,) = stand_in.chat.messages.values()
    assert message.to == "4930123456-1564131378"


async def test_health_and_metrics(start_bot: Any, bot_sandbox: tuple[Sandbox, str]) -> None:
    stand_in, _ = bot_sandbox
    bot = await start_bot()
    await bot.post(mo_message("hi"))
    await eventually(lambda: texts_to(stand_in))
    async with bot.session.get(bot.url + "/healthz") as response:
        assert response.status == 200
        assert (await response.json())["flows"] == ["support"]
    async with bot.session.get(bot.url + "/metrics") as response:
        text = await response.text()
    assert 'botkit_events_received_total{kind="message"} 1' in text
    assert "botkit_sends_total 1" in text
    assert "botkit_active_conversations 1" in text
    assert "# TYPE botkit_processing_seconds histogram" in text


def test_routing_by_account(tmp_path: Path) -> None:
    sales = flow_file(tmp_path, "flow: sales\nstart: a\naccounts: {whatsapp: ['+49 30 111']}\n"
                      "states:\n  a: {final: true}\n", "sales.yaml")  # fmt: skip
    support = load_flow(ROOT / "flows" / "support.yaml")
    router = Router([load_flow(sales), support])
    assert router.flow_for("whatsapp", "4930111") == "sales"
    assert router.flow_for("sms", "4930111") == "support"
    assert router.flow_for("whatsapp", "4930999") == "support"
    with pytest.raises(RoutingError, match="both answer every account"):
        Router([support, load_flow(ROOT / "flows" / "echo.yaml")])


async def test_conversations_command_lists_shows_and_resets(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str], tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    import asyncio
    import sys

    stand_in, _ = bot_sandbox
    bot = await start_bot()
    await bot.post(mo_message("hi"))
    await bot.post(mo_message("1"))
    await eventually(lambda: len(texts_to(stand_in)) == 2)
    await bot.server.sender.idle()
    db = str(tmp_path / "bot.db")

    async def botkit(*args: str) -> str:
        # Not subprocess.run: the server shares this event loop and must keep running.
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "botkit", "conversations", *args, "--db", db,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode == 0, err.decode()
        return out.decode()

    assert f"support\t{USER}\task_order" in await botkit("list")
    story = await botkit("show", f"+{USER}")
    assert "user: hi" in story
    assert "bot: Hi there! Reply 1 for your order status, 2 to talk to a person." in story
    assert "bot: What's your order number? (6 digits)" in story
    copy = tmp_path / "copy.db"
    assert f"backed up {db} to {copy}" in await botkit("backup", str(copy))
    restored = SQLiteStore(copy)
    await restored.open()
    assert [c.state for c in await restored.conversations()] == ["ask_order"]
    await restored.close()
    assert f"reset 1 conversation(s) with {USER}" in await botkit("reset", USER)
    assert "0 conversation(s)" in await botkit("list")
    # The running server had the conversation cached: its next message starts anew all the
    # same, at once (not after a further message or a restart).
    await bot.post(mo_message("1"))
    await eventually(lambda: len(texts_to(stand_in)) == 3)
    assert texts_to(stand_in)[-1] == texts_to(stand_in)[0]  # the greeting again
    assert "changed in the database since it was loaded" in caplog.text  # seen, run again
    assert "the store failed" not in caplog.text  # not left for a later try


async def test_a_turn_the_store_refuses_is_tried_again_without_a_new_message(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str], tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    stand_in, _ = bot_sandbox
    bot = await start_bot()
    bot.server.processor.retry_delays = (0.2, 0.2, 0.2)  # not given up before it is mended
    await bot.post(mo_message("hi"))
    await eventually(lambda: len(texts_to(stand_in)) == 1)

    with refusing(tmp_path / "bot.db", "UPDATE ON conversations"):  # the next turn
        status, _ = await bot.post(mo_message("1"))
        assert status == 200  # the event itself was stored
        await eventually(lambda: "the store failed" in caplog.text)
        assert len(texts_to(stand_in)) == 1  # nothing sent for a turn that was not stored
    # Tried again on its own: the user does not have to write again.
    await eventually(lambda: len(texts_to(stand_in)) == 2)
    assert texts_to(stand_in)[-1] == "What's your order number? (6 digits)"


async def test_a_turn_the_store_refuses_through_every_retry_is_dropped_and_the_user_goes_on(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str], tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    # Not the database's trouble (that is waited out) but this write's, every time: before,
    # it was tried for ever, and every later message of the user waited behind it.
    stand_in, _ = bot_sandbox
    bot = await start_bot()
    bot.server.processor.retry_delays = (0.05, 0.05)
    await bot.post(mo_message("hi"))
    await eventually(lambda: len(texts_to(stand_in)) == 1)

    with refusing(tmp_path / "bot.db", "UPDATE ON conversations"):
        await bot.post(mo_message("1"))
        await eventually(lambda: len(texts_to(stand_in)) == 2)
    assert texts_to(stand_in)[-1] == (
        "Sorry, something went wrong on our side. Please try again in a minute."
    )
    assert "the store refused its turn 3 times; dropping the turn" in caplog.text
    events = await bot.store.inbox_events(("support", USER))
    (dropped,) = [e for e in events if e["kind"] == "message" and e["error"]]
    assert "the store refused this turn: disk full" in dropped["error"]
    # The conversation is as it was before the dropped turn, and takes the next message.
    await bot.post(mo_message("1"))
    await eventually(lambda: len(texts_to(stand_in)) == 3)
    assert texts_to(stand_in)[-1] == "What's your order number? (6 digits)"


async def test_an_event_the_database_refuses_is_answered_503_and_taken_when_sent_again(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str], tmp_path: Path
) -> None:
    stand_in, _ = bot_sandbox
    bot = await start_bot()

    with refusing(tmp_path / "bot.db", "INSERT ON inbox"):
        status, body = await bot.post(mo_message("hi"))
    assert status == 503  # not stored, so not accepted: tyntec sends it again
    assert body["title"] == "Service Unavailable"
    assert "could not be stored" in body["detail"]
    status, _ = await bot.post(mo_message("hi"))  # tyntec's retry
    assert status == 200
    await eventually(lambda: len(texts_to(stand_in)) == 1)
    assert 'reason="store"' in await (await bot.session.get(bot.url + "/metrics")).text()


async def test_retention_forgets_old_history_but_not_conversations(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str], tmp_path: Path
) -> None:
    stand_in, _ = bot_sandbox
    now = [time.time()]
    bot = await start_bot(clock=lambda: now[0])
    bot.server.retention_days = 3
    await bot.post(mo_message("hi"))
    await eventually(lambda: texts_to(stand_in))
    await bot.server.sender.idle()
    key = ("support", USER)
    assert [e.kind for e in await bot.store.history(key)] == ["event", "move", "sent"]
    assert await bot.server.prune() == 0  # nothing is old yet
    now[0] += 4 * 86400
    assert await bot.server.prune() >= 3
    assert await bot.store.history(key) == []
    assert (await bot.store.conversations())[0].state == "welcome"
    with pytest.raises(ValueError, match="at least 3 days"):
        BotServer([], bot.store, bot.server.api, retention_days=1)


RELOADABLE = """\
flow: live
start: a
states:
  a:
    say: "{greeting}"
    on:
      - if: {{text: [next]}}
        goto: b
  b:
    say: "in b"
    on:
      - if: {{text: [again]}}
        say: "{again}"
      - if: {{text: [back]}}
        goto: a
"""


def rewrite(path: Path, text: str) -> None:
    path.write_text(text)
    stamp = path.stat().st_mtime + 2  # a new mtime even on coarse file systems
    os.utime(path, (stamp, stamp))


async def test_reload_serves_the_new_flow_text_without_a_restart(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str], tmp_path: Path
) -> None:
    stand_in, _ = bot_sandbox
    flow = flow_file(tmp_path, RELOADABLE.format(greeting="Hello v1", again="still v1"))
    bot = await start_bot(flow, watch=[flow])
    assert bot.server.reloader is not None
    await bot.post(mo_message("hi"))
    await bot.post(mo_message("next"))
    await eventually(lambda: texts_to(stand_in) == ["Hello v1", "in b"])
    rewrite(flow, RELOADABLE.format(greeting="Hello v2", again="now v2"))
    version = bot.server.engine.flows["live"].version
    # The polling loop picks the change up on its own within a second or two.
    await eventually(lambda: bot.server.engine.flows["live"].spec.states["a"].say[0].text
                     == "Hello v2", timeout=5)  # fmt: skip
    await bot.post(mo_message("again"))  # the conversation kept its state (b)
    await bot.post(mo_message("back"))
    await eventually(lambda: texts_to(stand_in)[2:] == ["now v2", "Hello v2"])
    (conversation,) = await bot.store.conversations()
    assert conversation.flow_version == bot.server.engine.flows["live"].version != version


async def test_a_broken_edit_keeps_the_running_version(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str], tmp_path: Path
) -> None:
    stand_in, _ = bot_sandbox
    flow = flow_file(tmp_path, RELOADABLE.format(greeting="Hello v1", again="x"))
    bot = await start_bot(flow, watch=[flow])
    assert bot.server.reloader is not None
    rewrite(flow, "flow: live\nstart: nowhere\nstates: {}\n")
    assert bot.server.reloader.check() == []
    await bot.post(mo_message("hi"))
    await eventually(lambda: texts_to(stand_in) == ["Hello v1"])


CALLING = """\
flow: live
start: a
states:
  a:
    call: {module}:greet
    say: "{{{{ vars.greeting }}}}"
    on:
      - if: {{text: [again]}}
        goto: a
"""

GREET = """\
async def greet(ctx):
    ctx.vars["greeting"] = {greeting!r}
"""


def project_with_action(tmp_path: Path, greeting: str) -> tuple[Path, Path]:
    """A project of a flow in ``flows/`` and its action module beside: their files. The
    module's name is new for each test, as the modules imported stay for the session."""
    module = f"live_actions_{tmp_path.name.replace('-', '_')}"
    (tmp_path / "flows").mkdir()
    flow = flow_file(tmp_path / "flows", CALLING.format(module=module))
    action = tmp_path / f"{module}.py"
    action.write_text(GREET.format(greeting=greeting))
    return flow, action


async def test_reload_imports_a_changed_action_anew(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    stand_in, _ = bot_sandbox
    monkeypatch.setattr(sys, "dont_write_bytecode", False)  # as most machines: compiled copies
    flow, action = project_with_action(tmp_path, "Hello v1")
    bot = await start_bot(flow, watch=[flow])
    assert bot.server.reloader is not None
    await bot.post(mo_message("hi"))
    await eventually(lambda: texts_to(stand_in) == ["Hello v1"])
    assert bot.server.reloader.check() == []  # nothing changed
    # An edit in the same second, of the same size: Python's compiled copy would pass for it.
    second = int(action.stat().st_mtime)
    os.utime(action, (second + 0.1, second + 0.1))
    action.write_text(GREET.format(greeting="Hello v2"))
    os.utime(action, (second + 0.6, second + 0.6))
    assert bot.server.reloader.check() == ["live"]
    await bot.post(mo_message("again"))
    await eventually(lambda: texts_to(stand_in) == ["Hello v1", "Hello v2"])


async def test_an_action_that_fails_to_import_keeps_the_running_one(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str], tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    stand_in, _ = bot_sandbox
    flow, action = project_with_action(tmp_path, "Hello v1")
    bot = await start_bot(flow, watch=[flow])
    assert bot.server.reloader is not None
    rewrite(action, "async def greet(ctx):\n    ctx.vars[\n")
    assert bot.server.reloader.check() == []
    assert f"reload: {action} failed to import" in caplog.text
    await bot.post(mo_message("hi"))
    await eventually(lambda: texts_to(stand_in) == ["Hello v1"])
    rewrite(action, GREET.format(greeting="Hello again"))  # mended: taken up
    assert bot.server.reloader.check() == ["live"]
    await bot.post(mo_message("again"))
    await eventually(lambda: texts_to(stand_in) == ["Hello v1", "Hello again"])


async def test_a_conversation_in_a_removed_state_restarts(
    start_bot: Any, bot_sandbox: tuple[Sandbox, str], tmp_path: Path
) -> None:
    stand_in, _ = bot_sandbox
    flow = flow_file(tmp_path, RELOADABLE.format(greeting="Hello v1", again="x"))
    bot = await start_bot(flow, watch=[flow])
    assert bot.server.reloader is not None
    await bot.post(mo_message("hi"))
    await bot.post(mo_message("next"))
    await eventually(lambda: texts_to(stand_in) == ["Hello v1", "in b"])
    rewrite(flow, "flow: live\nstart: a\nstates:\n  a:\n    say: 'Only a now'\n"
            "    on:\n      - if: {text: [x]}\n        goto: a\n")  # fmt: skip
    assert bot.server.reloader.check() == ["live"]
    await bot.post(mo_message("again"))
    await eventually(lambda: texts_to(stand_in)[-1] == "Only a now")
    story = await bot.store.history(("live", USER))
    assert ("note", "state 'b' no longer exists; restarting") in [(e.kind, e.text) for e in story]
