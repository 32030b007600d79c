"""Warnings about a flow that is valid but can fail at run time in a way a reading can tell.

Problems (:mod:`.checks`) stop a flow from loading; a warning does not: the flow may be meant
for a channel where it cannot fail. ``botkit validate`` prints them (``--strict`` counts them
as problems) and ``botkit serve`` logs them when it loads the flow.
"""

from __future__ import annotations

from collections.abc import Iterator

from .._numbers import digits
from ._durations import format_duration
from ._source import Path_
from .checks import written_messages
from .loader import Flow
from .outgoing import WHATSAPP_WINDOW, channels_that_cannot_carry
from .problems import FlowWarning
from .spec import BranchSpec, Channel, MessageSpec, RuleSpec, StateSpec

__all__ = ["advise"]


def advise(flow: Flow) -> list[FlowWarning]:
    """Every warning about ``flow``, in the order of the file."""
    warnings = [
        *_closed_window(flow),
        *_users_channel_cannot_carry(flow),
        *_replies_from_another_account(flow),
        *_whatsapp_only_for_other_channels(flow),
    ]
    warnings.sort(key=lambda w: (w.position.line, w.position.column))
    return warnings


def _closed_window(flow: Flow) -> Iterator[FlowWarning]:
    """Free-form WhatsApp messages sent when a wait of 24 hours or more times out.

    A wait starts at the user's last message or later, so when a timeout of a day or more
    fires, WhatsApp's 24-hour window is closed: only templates are delivered, and a free-form
    message without an ``outside_window`` template fails its turn (see the engine's
    ``_within_window``). Reminders are what long timeouts are for, so this is worth saying
    before the first reminder is due."""
    spec = flow.spec
    reported: set[Path_] = set()
    for name, state in spec.states.items():
        timeout = state.timeout or spec.timeout
        if not state.waits or not timeout or timeout < WHATSAPP_WINDOW:
            continue
        for rule_path, rule in _timeout_rules(flow, name, state):
            for path, message in _sent_by(flow, rule_path, rule):
                if path not in reported and _fails_outside_window(flow, message):
                    reported.add(path)
                    yield _window_warning(flow, path, name, timeout, message)


def _users_channel_cannot_carry(flow: Flow) -> Iterator[FlowWarning]:
    """Template, media and location messages sent on the channel the user wrote on, in a
    flow that users of a channel that cannot carry them reach: SMS takes a template, media
    or location only as its ``sms_text``, tyntecEcho no location. (With channels written
    out, that is a problem: see the checks' ``_channels_carry``.)"""
    reached = _reached(flow)
    hints = {
        "sms": "give it an sms_text: the text SMS sends instead; or, for a WhatsApp-only flow,"
        " name its accounts: {whatsapp: [...]}, so that SMS users do not reach it",
        "tyntecEcho": "send the place as a text or a url to tyntecEcho users (channels: on "
        "the message), or name the flow's accounts without one on tyntecEcho",
    }
    for path, message, channels in written_messages(flow):
        if channels is not None or path[-1] == "outside_window":
            continue  # an outside_window is sent only instead of a WhatsApp message
        for channel in channels_that_cannot_carry(message, reached):
            name = "SMS" if channel == "sms" else channel
            yield FlowWarning(
                flow.position(*path),
                f"{name} cannot carry a {message.kind} message: {_who_reaches(flow, name)}, "
                "and this message, sent on the channel they wrote on, fails their turn",
                hints[channel],
            )


def _replies_from_another_account(flow: Flow) -> Iterator[FlowWarning]:
    """A flow that answers users who write to one WhatsApp account, and replies from
    another: WhatsApp's window is kept per account, and the users never wrote to that one,
    so its free-form replies are refused (templates go through)."""
    sender = flow.spec.from_.get("whatsapp")
    answered = (flow.spec.accounts or {}).get("whatsapp")
    if not sender or not answered or digits(sender) in {digits(a) for a in answered}:
        return
    yield FlowWarning(
        flow.position("from", "whatsapp"),
        f"the flow replies from WhatsApp account {sender}, but its users write to "
        f"{', '.join(answered)}: WhatsApp's 24-hour window is kept per account, so a "
        f"free-form reply from {sender} fails unless the user also wrote to it",
        "send from an account the flow answers (from: {whatsapp: ...} as in accounts:), "
        "or only templates",
    )


def _whatsapp_only_for_other_channels(flow: Flow) -> Iterator[FlowWarning]:
    """A flow that sends on WhatsApp alone, to users who write on another channel: they have
    not written on WhatsApp, so its window is closed for them and free-form messages fail."""
    others = sorted(_reached(flow) - {"whatsapp"})
    if flow.spec.channels != ["whatsapp"] or not others:
        return
    yield FlowWarning(
        flow.source.position(("channels",), key=True),
        f"the flow sends on WhatsApp only, and {' and '.join(others)} users reach it: they have"
        " not written on WhatsApp, so its window is closed for them and free-form messages "
        "fail",
        "name the flow's accounts for WhatsApp only (accounts: {whatsapp: [...]}), or add a "
        f"fallback (channels: [whatsapp, {others[0]}])",
    )


def _reached(flow: Flow) -> set[Channel]:
    """The channels whose users write to the flow: those of its accounts, or, when it names
    none, every channel (it answers what no other flow does: docs/deploy.md)."""
    return set(flow.spec.accounts or ("whatsapp", "sms", "tyntecEcho"))


def _who_reaches(flow: Flow, channel: str) -> str:
    if flow.spec.accounts:
        return f"the flow answers an account on {channel}, so {channel} users reach it"
    return f"the flow names no accounts, so {channel} users reach it too"


def _timeout_rules(flow: Flow, name: str, state: StateSpec) -> Iterator[tuple[Path_, RuleSpec]]:
    """The rules that may handle ``timeout`` in state ``name`` (globals are tried first)."""
    for index, rule in enumerate(flow.spec.globals):
        if rule.if_ is not None and rule.if_.event == "timeout":
            yield ("globals", index), rule
    for index, rule in enumerate(state.on):
        if rule.if_ is not None and rule.if_.event == "timeout":
            yield ("states", name, "on", index), rule


def _sent_by(flow: Flow, rule_path: Path_, rule: RuleSpec) -> Iterator[tuple[Path_, MessageSpec]]:
    """The messages a rule sends: its own ``say``, then those of the states its ``goto``
    enters, up to and including the first waiting state of each way."""
    for index, message in enumerate(rule.say or []):
        yield (*rule_path, "say", index), message
    seen: set[str] = set()
    pending = _targets(rule.goto)
    while pending:
        name = pending.pop(0)
        if name in seen or name not in flow.spec.states:
            continue
        seen.add(name)
        state = flow.spec.states[name]
        for part in ("say", "ask"):
            for index, message in enumerate(getattr(state, part) or []):
                yield ("states", name, part, index), message
        if state.otp is not None:
            for index, message in enumerate(state.otp.prompt):
                yield ("states", name, "otp", "prompt", index), message
        if not state.final and not state.ask and not state.otp:
            pending += _targets(state.goto)


def _targets(goto: list[BranchSpec] | None) -> list[str]:
    return [branch.to for branch in goto or []]


def _fails_outside_window(flow: Flow, message: MessageSpec) -> bool:
    """True when ``message`` may go to WhatsApp alone, as free-form content, with nothing
    to send instead outside the window. With no channels given, it goes on the channel
    the user wrote on, which is WhatsApp if the flow's WhatsApp users reach it."""
    if message.template is not None or message.outside_window is not None:
        return False
    channels = message.channels or flow.spec.channels
    if channels is None:
        return "whatsapp" in _reached(flow)
    return channels == ["whatsapp"]


def _window_warning(
    flow: Flow, path: Path_, state: str, timeout: float, message: MessageSpec
) -> FlowWarning:
    who = "" if message.channels or flow.spec.channels else "when the user wrote on WhatsApp, "
    return FlowWarning(
        flow.position(*path),
        f"sent when state '{state}' times out, after {format_duration(timeout)}, when "
        "WhatsApp's 24-hour window has closed and WhatsApp delivers only templates: "
        f"{who}this message fails its turn",
        "give it an outside_window: {template: ..., language: ...} to send instead, or make "
        "it a template; with channels: [whatsapp, sms] it goes by SMS instead",
    )
