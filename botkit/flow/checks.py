"""The second pass over a flow: references between its parts, and what YAML cannot say.

States named by ``goto`` and ``start`` exist, every state is reachable and has a way out,
asks save their answers, templates and expressions compile, actions import.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from ._source import Path_, Position
from .loader import Flow
from .outgoing import channels_that_cannot_carry
from .problems import FlowProblem
from .spec import (
    EVENTS,
    BranchSpec,
    Channel,
    ConditionSpec,
    MessageSpec,
    RuleSpec,
    StateSpec,
    closest,
    suggest,
)
from .templating import CONTEXT_NAMES, TemplateError, Templates, has_template

__all__ = ["cross_check", "edges", "written_messages"]

_CHANNEL_NAMES = {"sms": "SMS", "tyntecEcho": "tyntecEcho"}

# The events whose rules run with no message (see the engine's template context).
_EVENTS_WITHOUT_MESSAGE = frozenset({"timeout", "delivered", "seen", "undelivered"})


def cross_check(
    flow: Flow,
    *,
    import_actions: bool = True,
    known_states: set[str] | None = None,
    lost_parts: dict[str, set[str]] | None = None,
) -> list[FlowProblem]:
    """Every cross-reference problem of a structurally valid flow.

    ``known_states`` is given when ``flow`` is what was left of a malformed one: states named
    there exist (malformed), and the checks that need the whole flow (reachability, ways
    out, event names) are left for when it is whole. ``lost_parts`` names, by state, the keys
    left out as malformed (``on`` if one of its rules is): a check that a state lacks
    something is not made on what was left out, as it may be just what is lacking.
    """
    checker = _Checker(flow, known_states, lost_parts or {})
    checker.run(import_actions=import_actions)
    return checker.problems


def edges(flow: Flow) -> Iterator[tuple[str, str, str]]:
    """Every possible move ``(source, target, why)``; a global's source is ``*``."""
    for index, rule in enumerate(flow.spec.globals):
        for branch, extra in _branches(rule.goto):
            yield "*", branch.to, _join(_rule_label(rule, f"global {index + 1}"), extra)
    for name, state in flow.spec.states.items():
        for branch, extra in _branches(state.goto):
            yield name, branch.to, _join(_goto_label(state), extra)
        for index, rule in enumerate(state.on):
            for branch, extra in _branches(rule.goto):
                yield name, branch.to, _join(_rule_label(rule, f"rule {index + 1}"), extra)


def _branches(goto: list[BranchSpec] | None) -> Iterator[tuple[BranchSpec, str]]:
    branches = goto or []
    for branch in branches:
        if len(branches) == 1 and branch.if_ is None:
            yield branch, ""
        elif branch.if_ is None:
            yield branch, "else"
        else:
            yield branch, _condition_label(branch.if_) or "if"


def _join(*labels: str) -> str:
    return ", ".join(label for label in labels if label)


def _goto_label(state: StateSpec) -> str:
    if state.ask:
        return "answer"
    if state.otp:
        return "verified"
    return ""


def _rule_label(rule: RuleSpec, fallback: str) -> str:
    if rule.else_:
        return "else"
    if rule.if_ is None:
        return fallback
    return _condition_label(rule.if_) or fallback


def _condition_label(condition: ConditionSpec) -> str:
    if condition.event:
        return condition.event
    if condition.text:
        return " / ".join(condition.text)
    for key in ("contains", "regex", "media", "when"):
        value = getattr(condition, key)
        if value:
            return f"{key} {value if not isinstance(value, list) else ', '.join(value)}"
    if condition.location:
        return "location"
    return ""


class _Checker:
    def __init__(
        self, flow: Flow, known_states: set[str] | None, lost_parts: dict[str, set[str]]
    ) -> None:
        self.flow = flow
        self.spec = flow.spec
        self.problems: list[FlowProblem] = []
        self.templates = Templates()
        self.partial = known_states is not None
        self.lost_parts = lost_parts
        self.state_names = sorted(known_states or set(self.spec.states))
        self.has_calls = self.partial or any(True for _ in self._calls())

    def problem(
        self, path: Path_, message: str, hint: str | None = None, *, key: bool = False
    ) -> None:
        self.problems.append(FlowProblem(self.flow.source.position(path, key=key), message, hint))

    def run(self, *, import_actions: bool) -> None:
        self._start()
        self._gotos()
        for name, state in self.spec.states.items():
            self._state(name, state)
        for index, rule in enumerate(self.spec.globals):
            self._rule(("globals", index), rule, None)
        self._reachable()
        self._templates()
        self._channels_carry()
        self._messages_of_events()
        if import_actions:
            self._actions()
        self.problems.sort(key=lambda p: (p.position.line, p.position.column))

    def _start(self) -> None:
        if self.spec.start not in self.state_names:
            self.problem(
                ("start",),
                f"start state {self.spec.start!r} is not defined"
                + suggest(self.spec.start, self.state_names),
                "start names one of the states below",
            )

    def _branches(self) -> Iterator[tuple[Path_, BranchSpec]]:
        for index, rule in enumerate(self.spec.globals):
            for b, branch in enumerate(rule.goto or []):
                yield ("globals", index, "goto", b), branch
        for name, state in self.spec.states.items():
            for b, branch in enumerate(state.goto or []):
                yield ("states", name, "goto", b), branch
            for index, rule in enumerate(state.on):
                for b, branch in enumerate(rule.goto or []):
                    yield ("states", name, "on", index, "goto", b), branch

    def _gotos(self) -> None:
        for path, branch in self._branches():
            if branch.to not in self.state_names:
                self.problem(
                    path,
                    f"goto {branch.to!r}: no such state" + suggest(branch.to, self.state_names),
                    "goto names a state of this flow",
                )

    def _state(self, name: str, state: StateSpec) -> None:
        at: Path_ = ("states", name)
        self._state_whole(name, state, self.lost_parts.get(name, set()))
        for index, rule in enumerate(state.on):
            self._rule((*at, "on", index), rule, state)
        for variable in state.set:
            self._variable((*at, "set", variable), variable)
        if state.save:
            self._variable((*at, "save"), state.save)

    def _state_whole(self, name: str, state: StateSpec, lost: set[str]) -> None:
        """What a state must have, and what it must not have together. ``lost``: its keys
        left out as malformed, which may be what a check finds missing."""
        at: Path_ = ("states", name)

        def known(*keys: str) -> bool:
            return not lost.intersection(keys)

        if state.ask and state.otp:
            self.problem(at, f"state {name!r} has both ask and otp", "split them into two states")
        if not state.ask and known("ask"):
            for key in ("expect", "retry", "max_retries", "save"):
                if getattr(state, key) not in (None, []):
                    self.problem(
                        (*at, key), f"{key} belongs to an ask, and state {name!r} has none"
                    )
        if state.ask and not state.save and known("save"):
            self.problem(
                (*at, "ask"),
                f"state {name!r} asks but does not save the answer",
                "add save: <variable> to keep the answer",
            )
        if state.ask and not state.goto and known("goto"):
            self.problem(
                (*at, "ask"),
                f"state {name!r} asks but has no goto for a valid answer",
                "add goto: <state> (where the conversation goes with a valid answer)",
            )
        if state.max_retries and not self._handles(state, "failed") and known("on"):
            self.problem(
                (*at, "max_retries"),
                f"state {name!r} gives up after {state.max_retries} tries, but has no rule for it",
                "add an on rule: - if: failed",
            )
        if (
            state.otp
            and not (self._handles(state, "verified") or state.goto)
            and known("on", "goto")
        ):
            self.problem(
                (*at, "otp"),
                f"state {name!r} verifies a number but does nothing once it is verified",
                "add an on rule `- if: verified` with a goto, or a goto",
            )
        if state.final and (state.ask or state.otp or state.on or state.goto):
            self.problem(at, f"final state {name!r} cannot ask, verify, wait or go on", key=True)
        if (
            state.on
            and state.goto
            and not (state.ask or state.otp or state.call)
            and known("ask", "otp", "call")
        ):
            self.problem(
                (*at, "goto"),
                f"state {name!r} waits for its on rules, so this goto never runs",
                "put the goto in the on rule that should lead there",
            )
        if not (state.final or state.waits or state.goto) and known(
            "final", "ask", "otp", "on", "goto"
        ):
            self.problem(
                at,
                f"state {name!r} does nothing after it is entered: no goto, ask, otp or on",
                "add a goto, make it ask or wait with on rules, or mark it final: true",
                key=True,
            )
        if state.waits and not self._leaves(state) and not state.final and not self.partial:
            self.problem(
                at,
                f"state {name!r} has no way out: nothing in it, and no global rule, has a goto",
                "add a goto to one of its rules, or a global rule like `if: {text: menu}`",
                key=True,
            )

    def _rule(self, at: Path_, rule: RuleSpec, state: StateSpec | None) -> None:
        rules = self.spec.globals if state is None else state.on
        index = at[-1]
        if rule.else_ and isinstance(index, int) and index != len(rules) - 1:
            self.problem(at, "rules after `else` never run", "make else the last rule", key=True)
        if rule.else_ and state is not None and (state.ask or state.otp):
            self.problem(
                at,
                "`else` in a state that asks would take every answer away from the ask",
                "use retry: for answers that do not fit",
                key=True,
            )
        condition = rule.if_
        if condition and condition.event and condition.event not in EVENTS and not self.has_calls:
            self.problem(
                (*at, "if"),
                f"unknown event {condition.event!r}" + suggest(condition.event, EVENTS),
                f"events are {', '.join(EVENTS)}, or a name a call returns",
            )
        for variable in rule.set:
            self._variable((*at, "set", variable), variable)

    def _variable(self, at: Path_, name: str) -> None:
        if not name.isidentifier():
            self.problem(
                at, f"{name!r} is not a variable name", "use letters, digits and _", key=True
            )

    def _handles(self, state: StateSpec, event: str) -> bool:
        return any(r.if_ and r.if_.event == event for r in state.on)

    def _leaves(self, state: StateSpec) -> bool:
        own = state.goto or any(r.goto for r in state.on)
        return bool(own) or any(r.goto for r in self.spec.globals)

    def _reachable(self) -> None:
        if self.spec.start not in self.spec.states or self.partial:
            return
        targets: dict[str, set[str]] = {}
        for source, target, _ in edges(self.flow):
            targets.setdefault(source, set()).add(target)
        seen = {self.spec.start} | targets.get("*", set())
        todo = list(seen)
        while todo:
            for target in targets.get(todo.pop(), set()):
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        for name in self.spec.states:
            if name not in seen:
                self.problem(
                    ("states", name),
                    f"state {name!r} is never reached from start {self.spec.start!r}",
                    "goto it from another state, or remove it",
                    key=True,
                )

    def _calls(self) -> Iterator[tuple[Path_, str]]:
        for index, rule in enumerate(self.spec.globals):
            if rule.call:
                yield ("globals", index, "call"), rule.call
        for name, state in self.spec.states.items():
            if state.call:
                yield ("states", name, "call"), state.call
            for index, rule in enumerate(state.on):
                if rule.call:
                    yield ("states", name, "on", index, "call"), rule.call

    def _actions(self) -> None:
        for path, target in self._calls():
            try:
                self.flow.action(target)
            except ValueError as exc:
                self.problem(
                    path, str(exc), "the module must be importable from the working directory"
                )

    def _templates(self) -> None:
        for path, text in _strings(self.flow):
            try:
                self.templates.check(text)
            except TemplateError as exc:
                self._template_problem(path, exc)
            else:
                self._unknown_names(path, self.templates.unknown_names(text))
        for path, expression in _expressions(self.flow):
            try:
                self.templates.check_expression(expression)
            except TemplateError as exc:
                self._template_problem(path, exc)
            else:
                self._unknown_names(path, self.templates.unknown_names(expression, expression=True))

    def _channels_carry(self) -> None:
        """A message whose channels are written out (its own, or the flow's) must be one each
        of them can carry: it would fail on every send. Left to the user's channel, it is
        checked when it is built."""
        hints = {
            "sms": "give it an sms_text: the text SMS sends instead",
            "tyntecEcho": "send it on whatsapp, or as a text or a url on tyntecEcho",
        }
        for path, message, channels in written_messages(self.flow):
            for channel in channels_that_cannot_carry(message, channels or ()):
                self.problem(
                    path,
                    f"{_CHANNEL_NAMES[channel]} cannot carry a {message.kind} message, and this"
                    f" one goes on {', '.join(channels or ())}",
                    hints[channel],
                )

    def _messages_of_events(self) -> None:
        """A rule for an event that no message comes with (a timeout, a delivery report)
        runs with ``message`` None: ``message.text`` there fails on every run."""
        for path, rule in _rules(self.flow):
            event = rule.if_.event if rule.if_ else None
            if event not in _EVENTS_WITHOUT_MESSAGE:
                continue
            reads = [(at, text, False) for at, text in _rule_strings(path, rule)]
            reads += [(at, text, True) for at, text in _rule_expressions(path, rule)]
            for at, text, expression in reads:
                line = self.templates.unguarded_read(text, "message", expression=expression)
                if line is not None:
                    self.problems.append(
                        FlowProblem(
                            self._line_within(at, line),
                            f"message is None in a rule for {event!r}, and this reads from it",
                            "save what you need from the user's message in vars when it"
                            " arrives, or guard it: {{ message.text if message else '' }}",
                        )
                    )

    def _template_problem(self, path: Path_, error: TemplateError) -> None:
        self.problems.append(
            FlowProblem(
                self._line_within(path, error.line),
                f"template error: {error.message}",
                "templates use Jinja2: {{ vars.name }}, {{ user.name or 'there' }}",
            )
        )

    def _unknown_names(self, path: Path_, names: list[tuple[str, int]]) -> None:
        # Valid Jinja that fails on every render: StrictUndefined makes it an error at run
        # time, in front of a user, so it is one here.
        for name, line in names:
            variable = name if name in self.variable_names else None
            guess = suggest(name, sorted(CONTEXT_NAMES))
            if not variable and not guess:
                variable = closest(name, self.variable_names)
            if variable:
                guess = f"; did you mean vars.{variable}?"
            self.problems.append(
                FlowProblem(
                    self._line_within(path, line),
                    f"template reads {name!r}, which templates do not have{guess}",
                    "templates see vars, user, message, flow and state: a saved answer is"
                    " {{ vars.name }}, the user's number {{ user.number }}",
                )
            )

    def _line_within(self, path: Path_, line: int | None) -> Position:
        position = self.flow.source.position(path)
        if line and line > 1:  # a line further down a multi-line string
            position = Position(position.file, position.line + line - 1, position.column)
        return position

    @functools.cached_property
    def variable_names(self) -> list[str]:
        """The variables this flow saves or sets, sorted (actions and the operator API may
        add others)."""
        names = {name for _, rule in _rules(self.flow) for name in rule.set}
        for state in self.spec.states.values():
            names.update(state.set)
            if state.save:
                names.add(state.save)
        return sorted(names)


def _message_strings(at: Path_, messages: list[MessageSpec] | None) -> Iterator[tuple[Path_, str]]:
    for index, message in enumerate(messages or []):
        yield from _one_message_strings((*at, index), message)


def _one_message_strings(here: Path_, message: MessageSpec) -> Iterator[tuple[Path_, str]]:
    for key in ("text", "url", "template", "language", "sms_text"):
        value = getattr(message, key)
        if isinstance(value, str):
            yield (*here, key), value
    for p, param in enumerate(message.params):
        yield (*here, "params", p), param
    if message.media:
        yield (*here, "media", "url"), message.media.url
        if message.media.caption:
            yield (*here, "media", "caption"), message.media.caption
    if message.location:
        for key in ("latitude", "longitude", "name", "address"):
            value = getattr(message.location, key)
            if isinstance(value, str):
                yield (*here, "location", key), value
    if message.outside_window:  # rendered too, when the window has closed
        yield from _one_message_strings((*here, "outside_window"), message.outside_window)


def written_messages(flow: Flow) -> Iterator[tuple[Path_, MessageSpec, list[Channel] | None]]:
    """Every message the flow writes out, with the channels it goes on when they are
    written (its own, else the flow's); an ``outside_window`` goes on its message's, and
    only when WhatsApp leads them (see the engine's ``_within_window``)."""
    lists: list[tuple[Path_, list[MessageSpec] | None]] = [(("on_error",), flow.spec.on_error)]
    lists += [((*path, "say"), rule.say) for path, rule in _rules(flow)]
    for name, state in flow.spec.states.items():
        at: Path_ = ("states", name)
        lists += [((*at, key), getattr(state, key)) for key in ("say", "ask", "retry")]
        if state.otp:
            for key in ("prompt", "invalid", "resent"):
                lists.append(((*at, "otp", key), getattr(state.otp, key)))
    for at, messages in lists:
        for index, message in enumerate(messages or []):
            channels = message.channels or flow.spec.channels
            yield (*at, index), message, channels
            if message.outside_window and (channels is None or channels[0] == "whatsapp"):
                yield (*at, index, "outside_window"), message.outside_window, channels


def _values(at: Path_, value: Any) -> Iterator[tuple[Path_, str]]:
    if isinstance(value, str) and has_template(value):
        yield at, value
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _values((*at, index), item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _values((*at, key), item)


def _rules(flow: Flow) -> Iterator[tuple[Path_, RuleSpec]]:
    for index, rule in enumerate(flow.spec.globals):
        yield ("globals", index), rule
    for name, state in flow.spec.states.items():
        for index, rule in enumerate(state.on):
            yield ("states", name, "on", index), rule


def _rule_strings(path: Path_, rule: RuleSpec) -> Iterator[tuple[Path_, str]]:
    yield from _message_strings((*path, "say"), rule.say)
    yield from _values((*path, "set"), rule.set)


def _rule_expressions(path: Path_, rule: RuleSpec) -> Iterator[tuple[Path_, str]]:
    if rule.if_ and rule.if_.when:
        yield (*path, "if", "when"), rule.if_.when
    for index, branch in enumerate(rule.goto or []):
        if branch.if_ and branch.if_.when:
            yield (*path, "goto", index, "if", "when"), branch.if_.when


def _strings(flow: Flow) -> Iterator[tuple[Path_, str]]:
    yield from _message_strings(("on_error",), flow.spec.on_error)
    for path, rule in _rules(flow):
        yield from _rule_strings(path, rule)
    for name, state in flow.spec.states.items():
        at: Path_ = ("states", name)
        for key in ("say", "ask", "retry"):
            yield from _message_strings((*at, key), getattr(state, key))
        yield from _values((*at, "set"), state.set)
        if state.otp:
            yield (*at, "otp", "number"), state.otp.number
            for key in ("prompt", "invalid", "resent"):
                yield from _message_strings((*at, "otp", key), getattr(state.otp, key))


def _expressions(flow: Flow) -> Iterator[tuple[Path_, str]]:
    for path, rule in _rules(flow):
        yield from _rule_expressions(path, rule)
    for name, state in flow.spec.states.items():
        for index, branch in enumerate(state.goto or []):
            if branch.if_ and branch.if_.when:
                yield ("states", name, "goto", index, "if", "when"), branch.if_.when
