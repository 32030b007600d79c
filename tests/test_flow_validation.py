"""Flow validation: every mistake reported at once, as file:line:column, with a hint."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from botkit.flow import FlowError, check_flow, load_flow
from botkit.testing.harness import FlowHarness

FIVE_MISTAKES = """\
flow: broken
start: welcome
timeout: 10 minutes
states:
  welcome:
    sya: "Hi!"
    on:
      - if: {text: ["1"]}
        goto: ask_ordr
  ask_order:
    ask: "Your order number?"
    expect: {regex: '^(\\d{6}$'}
    goto: welcome
"""


STATE_A = "flow: x\nstart: a\nstates:\n  a:\n"


def write(tmp_path: Path, text: str, name: str = "flow.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_five_mistakes_give_five_positioned_errors(tmp_path: Path) -> None:
    path = write(tmp_path, FIVE_MISTAKES)
    result = subprocess.run(
        [sys.executable, "-m", "botkit", "validate", str(path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith(str(path))]
    assert [e.split(": ", 1)[0].removeprefix(f"{path}:") for e in errors] == [
        "3:10", "6:5", "9:15", "11:10", "12:21",
    ]  # fmt: skip
    text = "\n".join(errors)
    assert "bad duration '10 minutes'" in text
    assert "unknown key 'sya'; did you mean 'say'?" in text
    assert "goto 'ask_ordr': no such state; did you mean 'ask_order'?" in text
    assert "asks but does not save the answer" in text
    assert "bad regex" in text
    assert "hint:" in result.stderr
    assert "5 problem(s) in 1 file(s)" in result.stderr


def test_structure_errors_stop_before_cross_checks(tmp_path: Path) -> None:
    # A flow whose structure is wrong is reported as such; the duration mistake and the
    # unknown key are both there, and nothing crashes on the half-read states.
    problems = check_flow(write(tmp_path, FIVE_MISTAKES))
    assert len(problems) == 5


def test_a_malformed_rule_hides_neither_its_neighbours_nor_its_state(tmp_path: Path) -> None:
    # One rule with a misspelt key used to take its state's whole `on` list with it: the
    # goto of the rule beside it went unchecked, and the state was said to do nothing.
    path = write(
        tmp_path,
        """\
        flow: x
        start: welcome
        globals:
          - if: {txt: stop}
            goto: welcome
          - if: {text: menu}
            goto: menuu
        states:
          welcome:
            say: "Hi"
            on:
              - if: {text: ["1"]}
                goto: nowhere
              - if: {txt: "2"}
                goto: welcome
              - else:
                goto: welcome
          asking:
            ask: "Your order?"
            expect: {regex: '('}
        """,
    )
    problems = [f"{p.position.line}: {p.message}" for p in check_flow(path)]
    assert problems == [
        "4: unknown key 'txt'; did you mean 'text'?",
        "7: goto 'menuu': no such state",
        "13: goto 'nowhere': no such state",
        "14: unknown key 'txt'; did you mean 'text'?",
        "19: state 'asking' asks but does not save the answer",
        "19: state 'asking' asks but has no goto for a valid answer",
        "20: bad regex '(': missing ), unterminated subpattern at position 0",
    ]


@pytest.mark.parametrize(
    ("flow", "line", "fragment"),
    [
        (
            "flow: x\nstart: nowhere\nstates:\n  a: {final: true}\n",
            2,
            "start state 'nowhere' is not defined",
        ),
        (
            "flow: x\nstart: a\nstates:\n  a: {say: hi, goto: a}\n  b: {final: true}\n",
            5,
            "state 'b' is never reached",
        ),
        ("flow: x\nstart: a\nstates:\n  a: {say: hi}\n", 4, "does nothing after it is entered"),
        (
            "flow: x\nstart: a\nstates:\n  a:\n    say: hi\n    on:\n      - if: timeout\n"
            "        say: again\n",
            4,
            "has no way out",
        ),
        (
            "flow: x\nstart: a\nstates:\n  a:\n    say: 'Hi {{ user.name '\n    final: true\n",
            5,
            "template error",
        ),
        (
            "flow: x\nstart: a\nstates:\n  a:\n    call: nowhere.module:fn\n    final: true\n",
            5,
            "cannot import nowhere.module",
        ),
        (
            STATE_A + "    call: botkit.flow:nothing_here\n    final: true\n",
            5,
            "has no 'nothing_here'",
        ),
        (
            "flow: x\nstart: a\nstates:\n  a:\n    on:\n      - else:\n        say: x\n"
            "      - if: {text: a}\n        goto: a\n",
            6,
            "rules after `else` never run",
        ),
        (  # was an AttributeError out of the duration's parser
            "flow: x\nstart: a\nstates:\n  a:\n    say: hi\n    timeout: {minutes: 5}\n"
            "    goto: a\n",
            6,
            "not a duration: {'minutes': 5}",
        ),
        (  # was taken: the timeout never fired
            "flow: x\nstart: a\nstates:\n  a:\n    say: hi\n    timeout: .inf\n    goto: a\n",
            6,
            "not a duration: inf",
        ),
        (
            "flow: x\nstart: a\nstates:\n  a:\n    on:\n      - if: timout\n        goto: a\n",
            6,
            "unknown event 'timout'; did you mean 'timeout'?",
        ),
        (
            "flow: x\nstart: a\nstates:\n  a:\n    ask: name?\n    save: name\n    goto: a\n"
            "    max_retries: 2\n",
            8,
            "has no rule for it",
        ),
        (
            "flow: x\nstart: a\nstates:\n  a:\n    say: {template: t}\n    final: true\n",
            5,
            "needs a language",
        ),
        (
            STATE_A + "    say: {text: a, url: 'https://b'}\n    final: true\n",
            5,
            "exactly one of text, url, media, location, template",
        ),
        (
            "flow: x\nstart: a\nstates:\n  a:\n    say: hi\n    expect: email\n    final: true\n",
            6,
            "expect belongs to an ask",
        ),
        (
            STATE_A + "    ask: hi\n    expect: {number: {min: 9, max: 1}}\n"
            "    save: n\n    goto: a\n",
            6,
            "min 9 is above max 1",
        ),
        (
            STATE_A + "    ask: hi\n    expect: {kind: email, whole: true}\n"
            "    save: n\n    goto: a\n",
            6,
            "min, max and whole belong to a number",
        ),
        (
            "flow: x\nstart: a\nstates:\n  a:\n    ask: hi\n    expect: {media: gif}\n    save: n\n"
            "    goto: a\n",
            6,
            "gif",
        ),
        (
            "flow: x\nstart: a\nstates:\n  a:\n    on:\n      - if: {when: 'vars.x >'}\n"
            "        goto: a\n",
            6,
            "template error",
        ),
        (
            "flow: x\nstart: a\nstates:\n  a:\n    set: {'bad name': 1}\n    final: true\n",
            5,
            "'bad name' is not a variable name",
        ),
        (
            "flow: x\nstart: a\nstates:\n  a: {final: true}\n  a: {final: true}\n",
            5,
            "key 'a' is repeated",
        ),
        ("flow: x\nstart: [a\n", 3, "not valid YAML"),
        # What is written out in a message is checked when the flow loads, not when the
        # first user gets it.
        (
            STATE_A + "    say: {media: {url: 'cat.png'}}\n    final: true\n",
            5,
            "url 'cat.png' is not an http(s) URL",
        ),
        (STATE_A + "    say: {url: 'www.example.com'}\n    final: true\n", 5, "not an http(s) URL"),
        (
            STATE_A + "    say: {location: {latitude: 91, longitude: 0}}\n    final: true\n",
            5,
            "latitude 91.0 is not between -90 and 90",
        ),
        (
            STATE_A + "    say: {location: {latitude: 0, longitude: -181}}\n    final: true\n",
            5,
            "longitude -181.0 is not between -180 and 180",
        ),
        # The name travels in userContext, split at "|": "a|b" lost every delivery report.
        ("flow: 'a|b'\nstart: a\nstates:\n  a: {final: true}\n", 1, "flow name 'a|b'"),
        ("flow: order status\nstart: a\nstates:\n  a: {final: true}\n", 1, "flow name"),
    ],
)
def test_each_mistake(tmp_path: Path, flow: str, line: int, fragment: str) -> None:
    problems = check_flow(write(tmp_path, flow))
    assert problems, "expected a problem"
    matching = [p for p in problems if fragment in p.message]
    assert matching, [str(p) for p in problems]
    assert matching[0].position.line == line, str(matching[0])


def test_a_key_in_the_wrong_place_says_where_it_goes(tmp_path: Path) -> None:
    # `channels` is a key of messages and of the flow, not of a state: "unknown key
    # 'channels'; did you mean 'channels'?" helped nobody.
    flow = STATE_A + "    say: hi\n    channels: [sms]\n    final: true\n"
    [problem] = check_flow(write(tmp_path, flow))
    assert problem.message == "'channels' does not belong here"
    assert problem.position.line == 6
    assert problem.hint == "channels goes in a message or the top level; see docs/flows.md"


def test_load_flow_raises_with_every_problem(tmp_path: Path) -> None:
    with pytest.raises(FlowError) as caught:
        load_flow(write(tmp_path, FIVE_MISTAKES))
    assert len(caught.value.problems) == 5
    assert str(caught.value).count("flow.yaml:") == 5


def test_environment_variables_in_senders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = "flow: x\nstart: a\nfrom: {whatsapp: '${BOT_NUMBER}'}\nstates:\n  a: {final: true}\n"
    path = write(tmp_path, text)
    problems = check_flow(path)
    assert "environment variable BOT_NUMBER is not set" in problems[0].message
    monkeypatch.setenv("BOT_NUMBER", "4930999")
    assert load_flow(path).spec.from_ == {"whatsapp": "4930999"}


def test_example_flows_are_valid() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "botkit", "validate", "flows"],
        capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[1],
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "5 flow(s) OK" in result.stdout


NAMES_NO_TEMPLATE_HAS = """\
flow: x
start: ask_name
states:
  ask_name:
    ask: "Your name?"
    save: name
    goto:
      - if: {when: "nam == 'Ana'"}
        to: done
      - to: done
  done:
    say: |
      Thanks {{ name }}!
      Your number is {{ usr.number }}.
    final: true
"""


def test_a_name_no_template_has_is_reported_where_it_is_read(tmp_path: Path) -> None:
    # Each compiles, and each fails on every render with StrictUndefined, in front of a user.
    problems = [str(p) for p in check_flow(write(tmp_path, NAMES_NO_TEMPLATE_HAS))]
    assert [p.split(": ", 1)[0].rsplit(":", 2)[1:] for p in problems] == [
        ["8", "20"], ["13", "7"], ["14", "7"],
    ]  # fmt: skip
    assert (
        "template reads 'nam', which templates do not have; did you mean vars.name?"
        in (problems[0])
    )
    assert "reads 'name', which templates do not have; did you mean vars.name?" in problems[1]
    assert "reads 'usr', which templates do not have; did you mean 'user'?" in problems[2]


async def test_every_name_a_template_has_passes_and_renders(tmp_path: Path) -> None:
    # The names validate lets through are the ones a turn gives, and those a template lets
    # be missing: the flow both passes the check and renders each of them.
    path = write(
        tmp_path,
        """\
        flow: names
        description: all of them
        start: a
        states:
          a:
            set: {n: 3}
            say: >-
              {% set greeting = 'hi' %}{{ greeting }} {{ user.number }} {{ user.channel }}
              {{ message.text }} {{ flow.name }} {{ flow.description }} {{ state }}
              {% for i in range(vars.n) %}{{ loop.index }}{% endfor %} {{ dict(a=1).a }}
              {{ nickname | default('friend') }} {{ 'x' if extra is defined else 'y' }}
            final: true
        """,
    )
    assert check_flow(path) == []
    async with FlowHarness(load_flow(path)) as chat:
        replies = [reply.describe() for reply in await chat.say("hello")]
    assert replies == ["hi 491701234567 whatsapp hello names all of them a 123 1 friend y"]


def test_on_error_is_checked_like_every_message(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        flow: x
        start: a
        on_error:
          - "Sorry {{ usr.name }}"
          - {text: "Try again {{ user.name or 'later' }", channels: [sms]}
        states:
          a: {say: hi, final: true}
        """,
    )
    problems = [str(p) for p in check_flow(path)]
    assert len(problems) == 2, problems
    assert (
        ":4:5: template reads 'usr', which templates do not have; did you mean 'user'?"
        in (problems[0])
    )
    assert ":5:12: template error: unexpected" in problems[1]


EVENT_RULES = """\
flow: reminder
start: waiting
timeout: 1m
states:
  waiting:
    say: "Reply to me"
    on:
      - if: timeout
        say: "{{ 'you said ' + message.text if message else 'nothing yet' }}"
      - if: delivered
        set: {last: "{{ message['text'] }}"}
      - if: {event: seen, when: "message.text == 'a'"}
        say: "seen"
      - if: undelivered
        say: "{{ message.text | default('sorry') }} {{ message.media.type | default('') }}"
      - else:
        say: "you said {{ message.text }}"
        goto: waiting
"""


def test_a_rule_for_an_event_without_a_message_may_not_read_it(tmp_path: Path) -> None:
    problems = [str(p) for p in check_flow(write(tmp_path, EVENT_RULES))]
    assert [p.split(": ", 1)[0].rsplit(":", 2)[1] for p in problems] == ["11", "12", "15"]
    assert "message is None in a rule for 'delivered', and this reads from it" in problems[0]
    assert "message is None in a rule for 'seen'" in problems[1]
    # `message.text | default(...)` renders when message is None; one level further does not.
    assert "message is None in a rule for 'undelivered'" in problems[2]
    # The guarded read in the timeout rule, and the read in `else`, are fine.


async def test_an_event_rule_does_run_without_a_message(tmp_path: Path) -> None:
    # What the check above stands on: the engine gives these rules no message.
    guarded = (
        EVENT_RULES.split("      - if: delivered")[0] + "      - else:\n        goto: waiting\n"
    )
    async with FlowHarness(load_flow(write(tmp_path, guarded))) as chat:
        assert [m.describe() for m in await chat.say("hi")] == ["Reply to me"]
        assert [m.describe() for m in await chat.wait(61)] == ["nothing yet"]


def test_urls_and_places_from_templates_are_checked_when_built(tmp_path: Path) -> None:
    flow = STATE_A + (
        "    set: {picture: 'https://example.com/cat.png', lat: '52.5'}\n"
        "    say:\n"
        "      - media: {url: '{{ vars.picture }}'}\n"
        "      - location: {latitude: '{{ vars.lat }}', longitude: 13.4}\n"
        "    final: true\n"
    )
    assert check_flow(write(tmp_path, flow)) == []


def test_an_outside_window_template_is_checked_at_its_own_line(tmp_path: Path) -> None:
    # It is rendered when the window has closed, a day or more after the flow went live.
    path = write(
        tmp_path,
        """\
        flow: x
        start: a
        states:
          a:
            say:
              text: "Reminder for {{ vars.day }}"
              outside_window:
                template: reminder
                language: en
                params: ["{{ vars.day ", "{{ dya }}"]
            final: true
        """,
    )
    problems = [str(p) for p in check_flow(path)]
    assert [p.split(": ", 1)[0].removeprefix(f"{path}:") for p in problems] == ["10:18", "10:34"]
    assert "template error: unexpected end of template" in problems[0]
    assert "template reads 'dya'" in problems[1]


WRITTEN_CHANNELS = """\
flow: x
start: a
channels: [whatsapp, sms]
from: {whatsapp: "4930123"}
states:
  a:
    say:
      - {template: hello, language: en}
      - {template: hello, language: en, sms_text: "Hello"}
      - {media: {type: image, url: "https://example.com/a.png"}, channels: [whatsapp]}
      - {location: {latitude: 1, longitude: 2}, channels: [tyntecEcho], from: bot}
      - text: "Your order {{ vars.order }}"
        outside_window: {template: order, language: en, params: ["{{ vars.order }}"]}
    final: true
"""


def test_a_message_its_written_channels_cannot_carry_is_a_problem(tmp_path: Path) -> None:
    # Sending it fails every time (the client refuses to build it); with the channels left
    # to the user's, it is checked when it is built.
    path = write(tmp_path, WRITTEN_CHANNELS)
    problems = [str(p) for p in check_flow(path)]
    assert [p.split(": ", 1)[0].removeprefix(f"{path}:") for p in problems] == [
        "8:9", "11:9", "13:25",
    ]  # fmt: skip
    assert "SMS cannot carry a template message, and this one goes on whatsapp, sms" in problems[0]
    assert "hint: give it an sms_text:" in problems[0]
    assert "tyntecEcho cannot carry a location message" in problems[1]
    assert "SMS cannot carry a template message" in problems[2]  # the outside_window's


def test_an_outside_window_is_checked_only_where_it_can_be_sent(tmp_path: Path) -> None:
    # It replaces a message whose chain WhatsApp leads; led by SMS, the chain never uses it.
    flow = """\
        flow: x
        start: a
        states:
          a:
            say:
              text: "Reminder"
              channels: [CHAIN]
              from: {sms: Shop, whatsapp: "4930123"}
              outside_window: {template: reminder, language: en}
            final: true
        """
    assert check_flow(write(tmp_path, flow.replace("CHAIN", "sms, whatsapp"))) == []
    problems = check_flow(write(tmp_path, flow.replace("CHAIN", "whatsapp, sms")))
    assert [(p.position.line, p.message.split(",")[0]) for p in problems] == [
        (9, "SMS cannot carry a template message")
    ]
