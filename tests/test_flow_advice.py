"""Warnings: what a valid flow may fail at when it runs, told before it runs."""

from __future__ import annotations

import logging
import os
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from botkit.cli import main
from botkit.flow import Flow, FlowRuntimeError, advise, load_flow
from botkit.server.reload import FlowReloader
from botkit.server.runner import find_flows
from botkit.testing.harness import FlowHarness

MakeFlow = Callable[[str], Flow]

# A reminder two days after booking: by then WhatsApp's 24-hour window has closed.
REMINDER = """\
flow: remind
start: booked
timeout: 2d
states:
  booked:
    say: "Booked for Friday."
    on:
      - if: timeout
        say: "Reminder: your appointment is on Friday."
        goto: confirm
      - if: {text: [cancel]}
        goto: done
  confirm:
    say: "Please confirm."
    goto: ask_confirm
  ask_confirm:
    ask: "YES or NO?"
    expect: {choice: ["yes", "no"]}
    save: answer
    goto: done
  done:
    say: {template: see_you, language: en, sms_text: "See you."}
    final: true
"""


@pytest.fixture
def flow_file(tmp_path: Path) -> Callable[[str], Path]:
    def write(text: str) -> Path:
        path = tmp_path / "flow.yaml"
        path.write_text(textwrap.dedent(text))
        return path

    return write


@pytest.fixture
def make_flow(flow_file: Callable[[str], Path]) -> MakeFlow:
    return lambda text: load_flow(flow_file(text))


def lines(flow: Flow) -> list[int]:
    return [warning.position.line for warning in advise(flow)]


def test_every_free_form_message_a_long_timeout_sends_is_warned_of_at_its_line(
    make_flow: MakeFlow,
) -> None:
    warnings = advise(make_flow(REMINDER))
    # The rule's say, then the states it passes through up to the one that waits.
    assert [w.position.line for w in warnings] == [9, 14, 17]
    first = str(warnings[0])
    assert first.startswith(f"{warnings[0].position}: warning: sent when state 'booked' times")
    assert "after 2d" in first
    assert "when the user wrote on WhatsApp" in first
    assert "hint: give it an outside_window:" in first


async def test_the_warning_is_what_happens_when_the_reminder_is_due(make_flow: MakeFlow) -> None:
    flow = make_flow(REMINDER)
    async with FlowHarness(flow, channel="whatsapp") as chat:
        await chat.say("hi")
        with pytest.raises(FlowRuntimeError, match="24-hour") as caught:
            await chat.wait(2 * 86400)
    assert caught.value.position.line == advise(flow)[0].position.line


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (("timeout: 2d", "timeout: 23h"), "the window is still open"),
        (
            ('say: "Reminder: your appointment is on Friday."',
             "say: {template: reminder, language: en, sms_text: Reminder}"),
            "a template is delivered outside the window",
        ),
        (
            ('say: "Reminder: your appointment is on Friday."',
             'say: {text: "Reminder", outside_window: {template: reminder, language: en}}'),
            "its outside_window template goes instead",
        ),
        (("timeout: 2d", "timeout: 2d\nchannels: [whatsapp, sms]"), "SMS takes it instead"),
        (("timeout: 2d", "timeout: 2d\nchannels: [sms]"), "never on WhatsApp"),
        (("timeout: 2d", "timeout: 2d\naccounts: {sms: [Shop]}"), "its users write by SMS"),
    ],
)  # fmt: skip
def test_no_warning_for_the_rule_when(
    make_flow: MakeFlow, change: tuple[str, str], why: str
) -> None:
    text = REMINDER.replace(*change)
    flow = make_flow(text)
    rules_say = next(n for n, line in enumerate(text.splitlines(), 1) if "reminder" in line.lower())
    assert flow.position("states", "booked", "on", 0, "say").line == rules_say
    assert rules_say not in lines(flow), why


def test_an_explicit_whatsapp_channel_is_warned_of_for_every_user(make_flow: MakeFlow) -> None:
    flow = make_flow(REMINDER.replace("timeout: 2d", "timeout: 2d\nchannels: [whatsapp]"))
    warning = next(str(w) for w in advise(flow) if "times out" in w.message)
    assert "when the user wrote on WhatsApp" not in warning
    assert "this message fails its turn" in warning


def test_a_state_timeout_a_global_rule_and_an_otp_prompt(make_flow: MakeFlow) -> None:
    flow = make_flow("""\
        flow: verify
        start: wait
        timeout: 10m
        globals:
          - if: timeout
            goto: check
        states:
          wait:
            timeout: 3d
            on:
              - if: {text: [go]}
                goto: short
          short:
            on:
              - if: {text: [go]}
                goto: check
          check:
            otp:
              number: "{{ user.number }}"
              prompt: "Enter the code we sent you."
            on:
              - if: verified
                goto: done
              - if: failed
                goto: done
          done:
            say: "Done."
            final: true
    """)
    # Only the state that waits 3 days; the global rule's goto enters check, whose prompt
    # is sent (the flow-wide 10 minutes of `short` is within the window).
    assert lines(flow) == [20]


def test_validate_prints_warnings_and_passes_unless_strict(
    flow_file: Callable[[str], Path],
) -> None:
    path = flow_file(REMINDER)
    runner = CliRunner()
    result = runner.invoke(main, ["validate", "--no-import", str(path)])
    assert result.exit_code == 0, result.output
    assert f"{path}:9:14: warning: sent when state 'booked'" in result.stderr
    assert "1 flow(s) OK, 3 warning(s)" in result.stdout
    strict = runner.invoke(main, ["validate", "--strict", "--no-import", str(path)])
    assert strict.exit_code == 1
    assert "0 problem(s) and 3 warning(s) in 1 file(s)" in strict.stderr


def test_the_example_flows_have_no_warnings() -> None:
    flows = find_flows([Path(__file__).parent.parent / "flows"])
    assert flows
    assert {flow.name: [str(w) for w in advise(flow)] for flow in flows} == {
        flow.name: [] for flow in flows
    }


def test_serve_logs_the_warnings_when_it_loads_a_flow(
    flow_file: Callable[[str], Path], caplog: pytest.LogCaptureFixture
) -> None:
    path = flow_file(REMINDER)
    with caplog.at_level(logging.WARNING, logger="botkit"):
        find_flows([path])
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"{path}:9:14: warning: sent when state 'booked'" in m for m in logged), logged


def test_a_reloaded_flow_is_warned_of_too(
    flow_file: Callable[[str], Path], caplog: pytest.LogCaptureFixture
) -> None:
    path = flow_file(REMINDER.replace("timeout: 2d", "timeout: 1h"))
    served = find_flows([path])
    assert advise(served[0]) == []
    applied: list[Flow] = []
    reloader = FlowReloader([path], applied.extend, lambda: served)
    path.write_text(textwrap.dedent(REMINDER) + "\n")  # the edit: a reminder after 2 days
    os.utime(path, (time.time() + 5, time.time() + 5))  # a newer stamp, whatever the clock
    with caplog.at_level(logging.WARNING, logger="botkit"):
        assert reloader.check() == ["remind"]
    assert applied
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"{path}:9:14: warning: sent when state 'booked'" in m for m in logged), logged


ORDER_STATUS = """\
flow: orders
start: ask
states:
  ask:
    ask: "Your order number?"
    save: order
    goto: status
  status:
    say:
      - {template: order_status, language: en, params: ["{{ vars.order }}"]}
      - {location: {latitude: 51.5, longitude: 7.49, name: Depot}, sms_text: "Depot, Dortmund"}
    goto: ask
"""


@pytest.mark.parametrize(
    ("top", "lines_warned", "fragment"),
    [
        ("", [10, 11], "the flow names no accounts, so SMS users reach it too"),
        ("accounts: {sms: [Shop]}\n", [10], "the flow answers an account on SMS"),
        ("accounts: {tyntecEcho: [bot]}\n", [11], "tyntecEcho cannot carry a location message"),
        ("accounts: {whatsapp: ['4930123']}\n", [], ""),
        (
            "channels: [whatsapp]\naccounts: {whatsapp: ['4930123']}\n"
            "from: {whatsapp: '4930123'}\n",
            [],
            "",
        ),
    ],
)
def test_a_message_the_users_channel_may_not_carry(
    make_flow: MakeFlow, top: str, lines_warned: list[int], fragment: str
) -> None:
    flow = make_flow(ORDER_STATUS.replace("start: ask\n", f"start: ask\n{top}"))
    shift = top.count("\n")
    warnings = advise(flow)
    assert [w.position.line - shift for w in warnings] == lines_warned
    assert all(fragment in w.message for w in warnings[:1])


async def test_an_sms_user_fails_where_the_warning_says(make_flow: MakeFlow) -> None:
    flow = make_flow(ORDER_STATUS)
    async with FlowHarness(flow, channel="sms") as chat:
        await chat.say("hi")
        with pytest.raises(FlowRuntimeError, match="SMS cannot carry a template") as caught:
            await chat.say("123456")
    assert caught.value.position == advise(flow)[0].position


@pytest.mark.parametrize(
    ("accounts", "warned"),
    [
        ("{whatsapp: ['4930123']}", True),
        ("{whatsapp: ['+49 30 123457', '4930123']}", False),  # compared by their digits
        ("{sms: [Shop]}", False),
    ],
)
def test_replies_from_an_account_its_users_do_not_write_to(
    make_flow: MakeFlow, accounts: str, warned: bool
) -> None:
    flow = make_flow(f"""\
        flow: notices
        start: a
        accounts: {accounts}
        from: {{whatsapp: "4930123457"}}
        states:
          a: {{say: "Hi", final: true}}
    """)
    found = [w for w in advise(flow) if "replies from WhatsApp account" in w.message]
    assert bool(found) is warned
    if warned:
        assert found[0].position.line == 4
        assert "users write to 4930123" in found[0].message


async def test_a_reply_from_that_account_fails_where_the_warning_says(make_flow: MakeFlow) -> None:
    flow = make_flow("""\
        flow: notices
        start: a
        accounts: {whatsapp: ["4930123"]}
        from: {whatsapp: "4930123457"}
        states:
          a: {say: "Hi", final: true}
    """)
    assert advise(flow)
    async with FlowHarness(flow, channel="whatsapp") as chat:  # writes to 4930123
        with pytest.raises(FlowRuntimeError, match="24-hour"):
            await chat.say("hello")


@pytest.mark.parametrize(
    ("top", "warned"),
    [
        ("channels: [whatsapp]\naccounts: {whatsapp: ['4930123'], tyntecEcho: [bot]}\n", True),
        ("channels: [whatsapp]\n", True),  # no accounts: every channel's users reach it
        ("channels: [whatsapp]\naccounts: {whatsapp: ['4930123']}\n", False),
        ("channels: [whatsapp, sms]\n", False),  # outside the window, SMS takes it
    ],
)
def test_whatsapp_only_for_users_of_other_channels(
    make_flow: MakeFlow, top: str, warned: bool
) -> None:
    flow = make_flow(
        f"flow: hello\nstart: a\n{top}from: {{whatsapp: '4930123', sms: Shop}}\n"
        "states:\n  a: {say: Hi, final: true}\n"
    )
    found = [w for w in advise(flow) if "sends on WhatsApp only" in w.message]
    assert bool(found) is warned
    if warned:
        assert found[0].position.line == 3  # the channels key


async def test_a_tyntec_echo_user_of_a_whatsapp_only_flow_fails(make_flow: MakeFlow) -> None:
    flow = make_flow(
        "flow: hello\nstart: a\nchannels: [whatsapp]\nfrom: {whatsapp: '4930123'}\n"
        "states:\n  a: {say: Hi, final: true}\n"
    )
    async with FlowHarness(flow, channel="tyntecEcho", account="bot") as chat:
        with pytest.raises(FlowRuntimeError, match="24-hour"):
            await chat.say("hello")
