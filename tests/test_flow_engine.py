"""The engine's semantics, each on a small flow, run against the sandbox through the harness."""

from __future__ import annotations

import dataclasses
import datetime
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from botkit.flow import (
    Conversation,
    Engine,
    Flow,
    FlowRuntimeError,
    ReachesOutside,
    UserMessage,
    load_flow,
)
from botkit.flow.conversation import unstorable
from botkit.flow.outgoing import split_text
from botkit.testing.harness import FlowHarness

MakeFlow = Callable[[str], Flow]


@pytest.fixture
def make_flow(tmp_path: Path) -> MakeFlow:
    def make(text: str) -> Flow:
        path = tmp_path / "flow.yaml"
        path.write_text(textwrap.dedent(text))
        return load_flow(path)

    return make


def said(replies: list) -> list[str]:  # type: ignore[type-arg]
    return [reply.describe() for reply in replies]


MENU = """\
flow: menu
start: menu
states:
  menu:
    say: "Pick one"
    on:
      - if: {text: [" One ", "1"]}
        say: "text"
      - if: {contains: [refund]}
        say: "contains"
      - if: {regex: '^#\\d+$'}
        say: "regex"
      - if: {media: image}
        say: "image"
      - if: {media: any}
        say: "other media {{ message.media.type }}"
      - if: {location: true}
        say: "location {{ message.location.name }}"
      - if: {when: "message.text == vars.secret"}
        say: "when"
      - if: {text: [both], when: "vars.secret == 'x'"}
        say: "never"
      - if: {text: [quit]}
        goto: done
      - else:
        say: "else {{ message.text }}"
    set: {secret: sesame}
  done: {final: true}
"""


async def test_conditions(make_flow: MakeFlow) -> None:
    async with FlowHarness(make_flow(MENU)) as chat:
        assert said(await chat.say("hello")) == ["Pick one"]  # starts, not matched
        assert said(await chat.say("ONE")) == ["text"]  # trimmed, any case
        assert said(await chat.say("I want a Refund now")) == ["contains"]
        assert said(await chat.say("#123")) == ["regex"]
        image = chat.message(media={"type": "image", "url": "https://x/a.png"})
        assert said(await chat.send(image)) == ["image"]
        video = chat.message(media={"type": "video", "url": "https://x/a.mp4"})
        assert said(await chat.send(video)) == ["other media video"]
        # contentType media without its media object (optional in tyntec's spec) is no
        # media: `media: any` took it, and its own `message.media.type` failed.
        bare = dataclasses.replace(chat.message(text="look"), content_type="media")
        assert said(await chat.send(bare)) == ["else look"]
        place = chat.message(location={"latitude": 1.5, "longitude": 2.5, "name": "Home"})
        assert said(await chat.send(place)) == ["location Home"]
        assert said(await chat.say("sesame")) == ["when"]
        assert said(await chat.say("both")) == ["else both"]  # every key must hold
        assert chat.conversation.entry == 1  # rules without goto never re-enter


async def test_entering_runs_set_call_say_then_the_prompt(make_flow: MakeFlow) -> None:
    flow = make_flow("""\
        flow: order
        start: a
        states:
          a:
            set: {count: "{{ 40 + 2 }}", label: "n={{ 40 + 2 }}", items: ["{{ 1 + 1 }}", x]}
            call: tests.flow_actions:greet_and_report
            say: "count is {{ vars.count }}"
            ask: "and the question"
            save: answer
            goto: b
          b:
            say: "got {{ vars.answer }}"
            final: true
    """)
    async with FlowHarness(flow, name="Ana") as chat:
        assert said(await chat.say("hi")) == [
            "Action says hi to Ana on whatsapp in a",
            "template receipt(1)",
            "count is 42",
            "and the question",
        ]
        assert chat.conversation.vars == {"count": 42, "label": "n=42", "items": [2, "x"]}
        assert said(await chat.say("forty-two")) == ["got forty-two"]
        assert chat.conversation.ended


async def test_goto_branches_and_immediate_moves(make_flow: MakeFlow) -> None:
    flow = make_flow("""\
        flow: age
        start: ask_age
        states:
          ask_age:
            ask: "How old are you?"
            expect: number
            save: age
            goto: check
          check:
            goto:
              - if: {when: "vars.age >= 18"}
                to: adult
              - else: minor
          adult: {say: adult, final: true}
          minor: {say: minor, final: true}
    """)
    async with FlowHarness(flow) as chat:
        await chat.say("hi")
        assert said(await chat.say("30")) == ["adult"]
        assert said(await chat.say("again")) == ["How old are you?"]  # after final: anew
        assert chat.conversation.vars == {}  # fresh variables
        assert said(await chat.say("12.5")) == ["minor"]
        assert chat.conversation.vars["age"] == 12.5


async def test_a_call_can_name_the_event(make_flow: MakeFlow) -> None:
    flow = make_flow("""\
        flow: calls
        start: amount
        states:
          amount:
            say: "How much?"
            on:
              - if: {regex: '^\\d+$'}
                call: tests.flow_actions:classify
                say: "noted"
              - if: big
                say: "that is a lot"
                goto: done
          done: {final: true}
    """)
    async with FlowHarness(flow) as chat:
        await chat.say("hi")
        assert said(await chat.say("50")) == ["noted"]
        assert said(await chat.say("500")) == ["noted", "that is a lot"]
        assert chat.conversation.vars["calls"] == 2


async def test_sync_actions_run_off_the_event_loop(make_flow: MakeFlow) -> None:
    flow = make_flow("""\
        flow: sync
        start: a
        states:
          a: {call: "tests.flow_actions:blocking_lookup", final: true}
    """)
    async with FlowHarness(flow) as chat:
        await chat.say("hi")
        assert chat.conversation.vars["thread"] is False


@pytest.mark.parametrize(
    ("expect", "answers", "saved"),
    [
        ("{choice: [Monday, Friday]}", ["sunday", " FRIDAY "], "Friday"),
        ("number", ["ten", "10"], 10),
        ("{number: {min: 9, max: 17}}", ["8", "17,5", "9.5"], 9.5),
        ("{number: {min: 9, max: 17, whole: true}}", ["9.5", "10,5", "10.0"], 10),
        ("email", ["ana at example", "ana@example.com"], "ana@example.com"),
        ("phone", ["123", "030 1234567"], "+49301234567"),
        ("{regex: '^[A-Z]{2}\\d{4}$'}", ["ab1234", "AB1234"], "AB1234"),
        # Numbers a user types are kept as the store can keep them: 400 digits are no
        # float (inf), and 26 digits stay a float rather than an int with made-up digits.
        ("number", ["9" * 400, "99999999999999999999999999"], 1e26),
    ],
)
async def test_ask_validation_kinds(
    make_flow: MakeFlow, expect: str, answers: list[str], saved: object
) -> None:
    flow = make_flow(f"""\
        flow: ask
        start: q
        states:
          q:
            ask: "Question?"
            expect: {expect}
            retry: "Again, please."
            save: answer
            goto: done
          done: {{say: "saved", final: true}}
    """)
    async with FlowHarness(flow, user="+491701234567") as chat:
        assert said(await chat.say("hi")) == ["Question?"]  # the first message is not an answer
        for wrong in answers[:-1]:
            assert said(await chat.say(wrong)) == ["Again, please."]
        assert said(await chat.say(answers[-1])) == ["saved"]
        assert chat.conversation.vars["answer"] == saved


async def test_media_and_location_answers_save_the_object(make_flow: MakeFlow) -> None:
    flow = make_flow("""\
        flow: docs
        start: photo
        states:
          photo:
            ask: "Send a photo of the receipt"
            expect: {media: image}
            save: receipt
            goto: where
          where:
            ask: "Where are you?"
            expect: location
            save: place
            goto: done
          done: {final: true}
    """)
    async with FlowHarness(flow) as chat:
        await chat.say("hi")
        # Without retry, an invalid answer gets the prompt again.
        assert said(await chat.say("here it is")) == ["Send a photo of the receipt"]
        photo = {"type": "image", "url": "https://x/r.jpg", "caption": "receipt"}
        assert said(await chat.send(chat.message(media=photo))) == ["Where are you?"]
        place = {"latitude": 52.52, "longitude": 13.4, "name": "Berlin"}
        await chat.send(chat.message(location=place))
        assert chat.conversation.vars["receipt"] == photo
        assert chat.conversation.vars["place"] == place


async def test_max_retries_then_failed(make_flow: MakeFlow) -> None:
    flow = make_flow("""\
        flow: tries
        start: q
        states:
          q:
            ask: "Yes or no?"
            expect: {choice: ["yes", "no"]}
            max_retries: 2
            save: answer
            goto: q
            on:
              - if: failed
                say: "giving up"
                goto: done
          done: {final: true}
    """)
    async with FlowHarness(flow) as chat:
        await chat.say("hi")
        assert said(await chat.say("maybe")) == ["Yes or no?"]
        assert said(await chat.say("perhaps")) == ["giving up"]


MESSAGES = """\
flow: kinds
start: a
from: {sms: Shop}
states:
  a:
    say:
      - "plain"
      - {url: "https://example.com/{{ vars.page }}"}
      - {media: {type: document, url: "https://example.com/a.pdf", caption: "Invoice"}}
      - {location: {latitude: "{{ vars.lat }}", longitude: 7.49, name: tyntec}}
      - {template: welcome, language: de, params: ["{{ user.name }}", 2]}
      - {template: legacy, language: en, policy: fallback}
      - {text: "both ways", channels: [whatsapp, sms]}
      - {template: other_account, language: en, from: "4930999"}
    set: {page: offers, lat: 51.5}
    final: true
"""


async def test_message_kinds_and_routing(make_flow: MakeFlow) -> None:
    async with FlowHarness(make_flow(MESSAGES), name="Ana", account="4930123") as chat:
        replies = await chat.say("hi")
    payloads = [reply.payload for reply in replies]
    whatsapp = [p.get("whatsapp", {}) for p in payloads]
    assert whatsapp[0] == {"contentType": "text", "text": "plain", "from": "4930123"}
    assert whatsapp[1]["text"] == "https://example.com/offers"
    assert whatsapp[1]["urlPreviewDisplayed"] is True
    assert whatsapp[2]["media"] == {
        "type": "document", "url": "https://example.com/a.pdf", "caption": "Invoice",
    }  # fmt: skip
    assert whatsapp[3]["location"] == {"latitude": 51.5, "longitude": 7.49, "name": "tyntec"}
    assert whatsapp[4]["template"] == {
        "templateId": "welcome",
        "language": {"policy": "deterministic", "code": "de"},
        "parameters": [{"default": "Ana"}, {"default": "2"}],
    }
    assert whatsapp[5]["template"]["language"]["policy"] == "fallback"
    assert payloads[6]["channels"] == ["whatsapp", "sms"]
    assert payloads[6]["sms"] == {"contentType": "text", "text": "both ways", "from": "Shop"}
    assert whatsapp[7]["from"] == "4930999"
    # Every message says which conversation and state entry sent it.
    assert {p["context"]["userContext"] for p in payloads} == {"botkit|kinds|491701234567|1"}


TIMED = """\
flow: timed
start: a
timeout: 10m
states:
  a:
    say: "A"
    on:
      - if: timeout
        say: "A timed out"
      - if: {text: [next]}
        goto: b
  b:
    say: "B"
    timeout: 30s
    on:
      - if: timeout
        say: "B timed out"
        goto: a
"""


async def test_timeouts(make_flow: MakeFlow) -> None:
    async with FlowHarness(make_flow(TIMED)) as chat:
        await chat.say("hi")
        assert said(await chat.wait(599)) == []
        assert said(await chat.wait(1)) == ["A timed out"]
        assert said(await chat.wait(3600)) == []  # once per wait
        await chat.say("hmm")  # handled without leaving: the clock starts again
        assert said(await chat.wait(600)) == ["A timed out"]
        assert said(await chat.say("next")) == ["B"]
        # The state's own timeout; moving on starts the next state's wait.
        assert said(await chat.wait(30)) == ["B timed out", "A"]
        assert said(await chat.wait(600)) == ["A timed out"]


async def test_a_stale_timer_is_ignored(make_flow: MakeFlow) -> None:
    flow = make_flow(TIMED)
    engine = Engine([flow])
    conversation = Conversation(flow="timed", user="49170", state="a", timeout_at=100.0)
    engine.clock = lambda: 50.0
    from botkit.flow import Timeout

    outcome = await engine.handle(conversation, Timeout(at=40.0))
    assert outcome.outbox == []
    assert outcome.conversation.timeout_at == 100.0


async def test_delivery_events_belong_to_the_state_that_sent(make_flow: MakeFlow) -> None:
    flow = make_flow("""\
        flow: receipts
        start: a
        states:
          a:
            say: "Read this"
            on:
              - if: seen
                say: "thanks for reading"
              - if: delivered
                set: {delivered: true}
              - if: {text: [next]}
                goto: b
          b:
            say: "B"
            on:
              - if: seen
                say: "B was seen"
              - if: {text: [back]}
                goto: a
    """)
    async with FlowHarness(flow) as chat:
        await chat.say("hi")
        assert chat.conversation.vars == {"delivered": True}
        assert said(await chat.report("seen")) == ["thanks for reading"]
        await chat.say("next")
        first_message = chat.sent[0]
        chat.sent.append(first_message)  # report on a message of the earlier state
        assert said(await chat.report("seen")) == []


async def test_undelivered_is_reported(make_flow: MakeFlow) -> None:
    flow = make_flow("""\
        flow: dlr
        start: a
        states:
          a:
            say: "hello"
            on:
              - if: undelivered
                say: {text: "by sms", channels: [sms]}
                goto: done
          done: {final: true}
    """)
    async with FlowHarness(flow) as chat:
        chat.sandbox.chat.make_undeliverable(chat.user, "whatsapp")
        replies = await chat.say("hi")
        assert [r.channels for r in replies] == [["whatsapp"], ["sms"]]


OTP = """\
flow: otp
start: verify
states:
  verify:
    otp:
      number: "{{ user.number }}"
      prompt: "Code?"
      invalid: "Wrong code."
      resent: "Sent again."
    on:
      - if: verified
        say: "verified"
        goto: done
      - if: failed
        say: "failed"
        goto: done
  done: {final: true}
"""


async def test_otp_outcomes(make_flow: MakeFlow) -> None:
    async with FlowHarness(make_flow(OTP)) as chat:
        assert said(await chat.say("hi")) == ["Code?"]
        otp = chat.sandbox.twofa.otps[chat.conversation.otp_id or ""]
        assert otp.number == "+491701234567"
        assert said(await chat.say("resend")) == ["Sent again."]
        assert said(await chat.say("0000" if otp.code != "0000" else "1111")) == ["Wrong code."]
        assert said(await chat.say(otp.code)) == ["verified"]
    async with FlowHarness(make_flow(OTP)) as chat:
        await chat.say("hi")
        code = chat.otp_code()
        chat.sandbox.clock.advance(301)  # the OTP expires
        assert said(await chat.say(code or "")) == ["failed"]


async def test_an_otp_check_replayed_after_success_still_verifies(make_flow: MakeFlow) -> None:
    flow = make_flow(OTP)
    async with FlowHarness(flow) as chat:
        await chat.say("hi")
        before = chat.conversation
        code = chat.otp_code() or ""
        await chat.say(code)
        # A crash before the result was stored: the same event is processed again from the
        # old snapshot, and the 2FA API now answers 410 for the used code.
        assert chat.engine is not None
        replay = await chat.engine.handle(before, chat.message(text=code))
        assert [r.to_payload()["whatsapp"]["text"] for r in replay.outbox] == ["verified"]


async def test_an_invalid_number_fails_the_otp_step(make_flow: MakeFlow) -> None:
    flow = make_flow(OTP.replace('"{{ user.number }}"', '"12"'))
    async with FlowHarness(flow) as chat:
        assert said(await chat.say("hi")) == ["failed"]


async def test_runtime_errors_name_flow_state_and_line(make_flow: MakeFlow) -> None:
    flow = make_flow("""\
        flow: oops
        start: a
        states:
          a:
            say: "Hi"
            on:
              - if: {text: [x]}
                say: "{{ vars.missing }}"
              - if: {text: [y]}
                call: tests.flow_actions:explode
              - if: {text: [z]}
                call: tests.flow_actions:return_number
              - if: {text: [bye]}
                goto: a
    """)
    engine = Engine([flow])
    started = await engine.handle(
        Conversation("oops", "4917"), UserMessage("4917", to="4930", text="hi")
    )
    conversation = started.conversation
    with pytest.raises(FlowRuntimeError) as caught:
        await engine.handle(conversation, UserMessage("4917", to="4930", text="x"))
    assert str(caught.value).startswith(f"{flow.file}:8:")
    assert "flow 'oops', state 'a'" in str(caught.value)
    assert "has no attribute 'missing'" in str(caught.value)
    with pytest.raises(FlowRuntimeError, match="raised RuntimeError: the order system is down"):
        await engine.handle(conversation, UserMessage("4917", to="4930", text="y"))
    with pytest.raises(FlowRuntimeError, match="return an event name or None"):
        await engine.handle(conversation, UserMessage("4917", to="4930", text="z"))
    assert conversation.state == "a"  # the snapshot given is untouched
    assert conversation.version == 1


async def test_one_machine_per_flow_holds_no_conversations(make_flow: MakeFlow) -> None:
    flow = make_flow(MENU)
    engine = Engine([flow])
    machine = engine._machines["menu"]
    conversation = Conversation("menu", "4917")
    for user in ("4917", "4918", "4919"):
        outcome = await engine.handle(
            Conversation("menu", user), UserMessage(user, to="4930", text="hi")
        )
        assert outcome.conversation.state == "menu"
    outcome = await engine.handle(conversation, UserMessage("4917", to="4930", text="1"))
    assert len(engine._machines) == 1
    # Turns borrow a pooled model: the machine holds one per concurrent turn (here one),
    # never one per user.
    assert len(machine.machine.models) == 1


async def test_a_removed_state_restarts_the_conversation(make_flow: MakeFlow) -> None:
    engine = Engine([make_flow(MENU)])
    old = Conversation("menu", "4917", state="gone_in_new_version", vars={"x": 1})
    outcome = await engine.handle(old, UserMessage("4917", to="4930", text="hello"))
    assert outcome.conversation.state == "menu"
    assert outcome.notes == ["state 'gone_in_new_version' no longer exists; restarting"]


async def test_a_flow_that_loops_without_waiting_is_stopped(make_flow: MakeFlow) -> None:
    flow = make_flow("""\
        flow: loop
        start: a
        states:
          a: {goto: b}
          b: {goto: a}
    """)
    with pytest.raises(FlowRuntimeError, match="loops without waiting"):
        await Engine([flow]).handle(
            Conversation("loop", "1"), UserMessage("1", to="4930", text="hi")
        )


async def test_a_turn_kept_inside_stops_before_an_action_or_an_otp_call(
    make_flow: MakeFlow,
) -> None:
    flow = make_flow("""\
        flow: inside
        start: menu
        states:
          menu:
            say: "Pick"
            on:
              - if: {text: ["count"]}
                call: tests.flow_actions:classify
                say: "counted"
              - if: {text: ["verify"]}
                goto: verify
              - else:
                say: "just words"
          verify:
            otp: {number: "{{ user.number }}", prompt: "Code?"}
            goto: menu
    """)
    engine = Engine([flow])  # no tyntec client: an OTP step would fail, not stop, if reached
    started = (await engine.handle(Conversation("inside", "4917"), _text("hi"))).conversation

    moved = await engine.handle(started, _text("hello"), reach_outside=False)
    assert [r.whatsapp.text for r in moved.outbox if r.whatsapp] == ["just words"]
    for text in ("count", "verify"):
        with pytest.raises(ReachesOutside):
            await engine.handle(started, _text(text), reach_outside=False)
    assert "calls" not in started.vars  # the action did not run
    assert started.state == "menu"
    # Allowed to reach outside, the same turn runs the action.
    counted = await engine.handle(started, _text("count"))
    assert counted.conversation.vars["calls"] == 1


def _text(text: str) -> UserMessage:
    return UserMessage(sender="4917", text=text, to="4930")


async def test_a_text_longer_than_its_channel_takes_reaches_the_user_in_parts(
    make_flow: MakeFlow,
) -> None:
    # tyntecEcho takes 100 characters a message: a reply quoting the user is easily longer.
    flow = make_flow("""\
        flow: quote
        start: a
        states:
          a:
            on:
              - if: {text: [bye]}
                goto: a
              - else:
                say: "You said: {{ message.text }}"
    """)
    words = " ".join(f"word{n:02d}" for n in range(40))  # 279 characters, no sentences
    async with FlowHarness(flow, channel="tyntecEcho") as chat:
        await chat.say("hi")
        replies = await chat.say(words)
        parts = [reply.content["text"] for reply in replies]
        assert len(parts) == 3
        assert all(len(part) <= 100 for part in parts)
        assert " ".join(parts) == f"You said: {words}"  # cut at spaces, nothing lost
        state, _ = await chat.snapshot()
        assert state == "a"
        assert all(reply.message_id for reply in replies)  # the sandbox took each part


async def test_a_text_longer_than_a_message_may_be_is_the_flows_mistake(
    make_flow: MakeFlow,
) -> None:
    # A template that renders far more than anyone reads: before, 245 messages were sent
    # (and at 100 MB, cutting copied the rest per part: the turn took minutes).
    flow = make_flow("""\
        flow: loud
        start: a
        states:
          a:
            say: "{{ 'x' * 999999 }}"
            final: true
    """)
    async with FlowHarness(flow) as chat:
        with pytest.raises(
            FlowRuntimeError,
            match=r"flow.yaml:5:\d+: .*the text is 999,999 characters, more than the 65,536",
        ):
            await chat.say("hi")
        assert chat.sandbox.chat.messages == {}
    # Up to that, a text is cut as its channel needs: 65,536 characters on tyntecEcho are
    # hundreds of messages, sent in order (a flow made for WhatsApp, tried on tyntecEcho).
    echo = make_flow("""\
        flow: echo
        start: a
        states:
          a:
            say: "{{ message.text }}"
            final: true
    """)
    async with FlowHarness(echo, channel="tyntecEcho") as chat:
        replies = await chat.say("word " * 1000)
    assert len(replies) == 50  # 20 words of 4 and their spaces: 99 characters each
    text = " ".join(reply.content["text"] for reply in replies)
    assert text.strip() == ("word " * 1000).strip()  # nothing lost


async def test_a_message_a_channel_cannot_carry_is_said_in_the_flows_terms(
    make_flow: MakeFlow,
) -> None:
    # The client's errors named its parameters ("pass sms_text=", "needs from_"), which a
    # flow does not have.
    flow = make_flow("""\
        flow: notice
        start: a
        states:
          a:
            say: {template: welcome, language: en}
            final: true
    """)
    async with FlowHarness(flow, channel="sms") as chat:
        with pytest.raises(
            FlowRuntimeError,
            match=r"SMS cannot carry a template message: give "
            r"it an `sms_text:`, the text SMS sends instead",
        ):
            await chat.say("hi")
    echo = make_flow("""\
        flow: echo
        start: a
        states:
          a:
            say: "hi"
            final: true
    """)
    async with FlowHarness(echo, channel="tyntecEcho") as chat:
        to_nobody = dataclasses.replace(chat.message(text="hi"), to=None)  # `to` is optional
        with pytest.raises(
            FlowRuntimeError,
            match=r"no tyntecEcho account to send from: give "
            r"the message, or the flow, `from: \{tyntecEcho: ACCOUNT\}`",
        ):
            await chat.send(to_nobody)


async def test_a_template_that_would_stall_the_server_fails_its_event_at_once(
    make_flow: MakeFlow,
) -> None:
    # Rendering runs on the event loop: `'x' * 10**9` (a gigabyte) or `10 ** (10**10)`
    # (minutes of arithmetic) held up every user of the bot. Jinja's sandbox bounds range()
    # only; botkit bounds `*` and `**` too.
    flow = make_flow("""\
        flow: heavy
        start: a
        states:
          a:
            on:
              - if: {text: [big]}
                say: "{{ 'x' * 10**9 }}"
              - if: {text: [power]}
                set: {n: "{{ 10 ** (10**10) }}"}
              - if: {text: [bye]}
                goto: done
              - else:
                say: "{{ 'ab' * 3 }} {{ [0] * 2 }} {{ 2 ** 10 }} {{ 2.0 ** 0.5 > 1 }}"
          done: {final: true}
    """)
    async with FlowHarness(flow) as chat:
        await chat.say("hi")  # starts: a says nothing on entering
        assert said(await chat.say("hi")) == ["ababab [0, 0] 1024 True"]  # the usual uses
        with pytest.raises(FlowRuntimeError, match=r"'\*' would make 1,000,000,000 items"):
            await chat.say("big")
        with pytest.raises(FlowRuntimeError, match=r"'\*\*' with an exponent of 10,000,000,000"):
            await chat.say("power")


@pytest.mark.parametrize(
    ("text", "limit", "parts"),
    [
        ("short", 10, ["short"]),
        ("First para.\n\nSecond para here.", 25, ["First para.", "Second para here."]),
        ("Line one\nline two is long", 16, ["Line one", "line two is long"]),
        ("One sentence. Two sentence. Three.", 30, ["One sentence. Two sentence.", "Three."]),
        ("a" * 25, 10, ["a" * 10, "a" * 10, "a" * 5]),  # no place to cut: at the limit
        ("x " + "b" * 20, 10, ["x " + "b" * 8, "b" * 10, "b" * 2]),  # too early a space: no cut
    ],
)
def test_split_text_cuts_where_a_person_would(text: str, limit: int, parts: list[str]) -> None:
    assert split_text(text, limit) == parts


async def test_a_message_without_to_is_answered_from_the_flows_account(
    make_flow: MakeFlow,
) -> None:
    # tyntec's spec has a MoMessage's `to` optional, and its own example leaves it out.
    with_sender = make_flow("""\
        flow: shop
        from: {whatsapp: "4930123"}
        start: a
        states:
          a:
            say: "Hi there"
            on:
              - if: {text: [bye]}
                goto: done
              - else:
                say: "You said {{ message.text }}"
          done: {final: true}
    """)
    engine = Engine([with_sender])
    started = await engine.handle(
        Conversation("shop", "4917"), UserMessage("4917", to=None, text="hi")
    )
    [request] = started.outbox
    assert request.whatsapp is not None
    assert request.whatsapp.from_ == "4930123"
    # The user wrote to that account just now: its 24-hour window is open.
    answered = await engine.handle(started.conversation, UserMessage("4917", to=None, text="again"))
    assert [r.whatsapp.text for r in answered.outbox if r.whatsapp] == ["You said again"]


async def test_no_whatsapp_sender_at_all_is_named_as_such(make_flow: MakeFlow) -> None:
    flow = make_flow("""\
        flow: nosender
        start: a
        states:
          a:
            say: "Hi there"
            final: true
    """)
    with pytest.raises(FlowRuntimeError, match="no WhatsApp account to send from") as caught:
        await Engine([flow]).handle(
            Conversation("nosender", "4917"), UserMessage("4917", to=None, text="hi")
        )
    assert "24-hour" not in str(caught.value)


def test_unstorable_says_what_the_store_cannot_keep() -> None:
    assert unstorable({"a": [1, 2.5, "x", None, True, {"b": (3,)}], "n": 2**63}) is None
    assert unstorable({"when": datetime.date(2026, 1, 1)}) == "a date in vars['when']"
    assert unstorable({"a": {"b": [1, {2}]}}) == "a set in vars['a']['b'][1]"
    assert unstorable({"n": 2**64}) == "an integer too large to keep in vars['n']"
    assert unstorable({"x": float("nan")}) == "nan (not a number JSON holds) in vars['x']"
    assert unstorable({"m": {1: "one"}}) == "the key 1 (not text) in vars['m']"
    # The store's encoder (orjson) stops at 254 levels: 201 nested lists could not be kept.
    nested: list[object] = []
    for _ in range(199):
        nested = [nested]
    assert unstorable({"deep": nested}) is None  # 200 levels
    problem = unstorable({"deep": [nested]})
    assert problem is not None
    assert problem.startswith("lists and mappings nested deeper than 200 levels in vars['deep']")
    assert len(problem) < 200  # the path is cut short


async def test_a_turn_that_leaves_a_value_the_store_cannot_keep_fails(
    make_flow: MakeFlow,
) -> None:
    flow = make_flow("""\
        flow: rng
        start: s
        states:
          s:
            set: {r: "{{ range(3) }}"}
            say: "hi"
            final: true
    """)
    with pytest.raises(FlowRuntimeError, match=r"the turn left a range in vars\['r'\]"):
        await Engine([flow]).handle(Conversation("rng", "4917"), _text("hi"))


async def test_a_rules_regex_that_runs_too_long_is_stopped_at_its_line(
    make_flow: MakeFlow,
) -> None:
    flow = make_flow("""\
        flow: slow
        start: s
        states:
          s:
            on:
              - if: {regex: '^(\\w+\\s?)+$'}
                say: "words"
              - if: {text: [bye]}
                goto: done
          done: {final: true}
    """)
    engine = Engine([flow])
    started = await engine.handle(Conversation("slow", "4917"), _text("hi there"))
    with pytest.raises(FlowRuntimeError, match=r"took over 0\.1 s") as caught:
        await engine.handle(started.conversation, _text("a" * 4000 + "!"))
    assert str(caught.value).startswith(f"{flow.file}:6:")


async def test_a_regex_check_keeps_the_gil_while_another_thread_runs(
    make_flow: MakeFlow,
) -> None:
    # Under load the store's writer thread runs Python beside the event loop. A search that
    # let go of the GIL had to wait for the writer to give it back, up to the switch
    # interval, on every answer checked (and the wait counted against the regex's timeout).
    # Under a long switch interval, a thread waiting for the GIL gets it only when the loop's
    # thread lets go of it itself.
    flow = make_flow("""\
        flow: order
        start: ask_order
        states:
          ask_order:
            ask: "Your order number?"
            expect: {regex: '\\b\\d{6}\\b'}
            retry: "Six digits, please."
            save: order
            goto: ask_order
    """)
    engine = Engine([flow])
    conversation = (await engine.handle(Conversation("order", "4917"), _text("hi"))).conversation
    # Long answers, so that each search lasts long enough for the waiting thread to wake.
    wrong, right = "x" * 20_000, "x" * 20_000 + " 123456"
    stop = threading.Event()
    spins = [0]

    def spin() -> None:
        time.sleep(0.05)  # then it waits for the GIL, under the long switch interval
        while not stop.is_set():
            spins[0] += 1

    interval = sys.getswitchinterval()
    sys.setswitchinterval(5.0)
    spinner = threading.Thread(target=spin)
    try:
        spinner.start()
        waiting = time.perf_counter() + 0.1
        while time.perf_counter() < waiting:  # holds the GIL until the spinner wants it
            pass
        for answer in [wrong, right] * 20:
            conversation = (await engine.handle(conversation, _text(answer))).conversation
            if spins[0]:
                break
        ran = spins[0]
    finally:
        stop.set()
        spinner.join()
        sys.setswitchinterval(interval)
    assert conversation.vars["order"] == right
    assert ran == 0, "another thread ran while answers were checked: a search let go of the GIL"
