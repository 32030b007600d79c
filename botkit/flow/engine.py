"""The engine: one event in, the conversation's next snapshot and the messages to send out.

Each flow is compiled onto one ``transitions`` state machine (``model=None``); a conversation is
attached to it for the time of one event and detached after, so the machine never holds users
between events. Everything that talks to the network (actions, OTP calls) runs in the engine's
own code, never inside a transition callback, and the transition itself only moves the state.

The engine keeps nothing between events: the caller persists the returned snapshot together
with its outbox, in one transaction, and hands the snapshot back with the next event.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pydantic
from transitions import Machine

from ..tyntec import APIError, TyntecClient, TyntecError
from ..tyntec.messages import MissingSender, MissingSmsText
from ..tyntec.models import MessageRequest, OtpCheckOutcome
from ._source import Position
from .checks import edges
from .context import ActionContext, User
from .conversation import Conversation, unstorable
from .events import DeliveryUpdate, Event, Start, Timeout, UserMessage
from .loader import Flow
from .matching import REGEX_TIMEOUT, SlowRegex, check_answer, condition_matches
from .outgoing import account_key, build_requests, channels_for, sender_for, window_open
from .problems import FlowRuntimeError, ReachesOutside, TemporaryFailure
from .spec import BranchSpec, MessageSpec, RuleSpec, StateSpec
from .templating import TemplateError, Templates, has_template

__all__ = ["Engine", "Outcome"]

log = logging.getLogger("botkit.engine")

Path = tuple[str | int, ...]


@dataclass
class Outcome:
    """What one event did: the new snapshot, the messages to send, the moves made."""

    conversation: Conversation
    outbox: list[MessageRequest] = field(default_factory=list)
    origins: list[Position] = field(default_factory=list)
    """Where in the flow each outbox message is written (same order as ``outbox``)."""
    transitions: list[tuple[str | None, str]] = field(default_factory=list)
    handled: bool = False
    notes: list[str] = field(default_factory=list)


class _Model:
    """What a transitions machine holds for the length of one event."""

    trigger: Callable[[str], bool]  # added by the machine in add_model

    def __init__(self, state: str) -> None:
        self.state = state


class Engine:
    """Runs conversations of one or more flows.

    ``api`` is the tyntec client used for OTP steps and handed to actions; ``clock`` gives
    the time (seconds since the epoch), replaceable so tests can jump ahead.
    """

    def __init__(
        self,
        flows: Iterable[Flow],
        api: TyntecClient | None = None,
        *,
        clock: Callable[[], float] = time.time,
        max_moves: int = 50,
    ) -> None:
        self.flows = {flow.name: flow for flow in flows}
        self.api = api
        self.clock = clock
        self.max_moves = max_moves
        self.templates = Templates()
        self._machines = {name: _Machine(_compile(flow)) for name, flow in self.flows.items()}

    def new_conversation(self, flow: str, user: str) -> Conversation:
        """A conversation that has not started; the user's first message starts it."""
        if flow not in self.flows:
            raise KeyError(f"no flow named {flow!r}; loaded: {', '.join(self.flows)}")
        return Conversation(flow=flow, user=user)

    async def handle(
        self, conversation: Conversation, event: Event, *, reach_outside: bool = True
    ) -> Outcome:
        """Process one event. The given snapshot is not changed; on error it stays valid and
        :class:`FlowRuntimeError` says what failed where.

        With ``reach_outside=False`` the turn stops with :class:`ReachesOutside` before it
        would run an action or call the 2FA API: a turn that only moves and says things can
        run before its event is known to be new, and be dropped if it is a duplicate."""
        flow = self.flows[conversation.flow]
        machines = self._machines[conversation.flow]
        turn = _Turn(self, flow, conversation.copy(), event, reach_outside=reach_outside)
        state = turn.conversation.state
        # A state removed from a reloaded flow: the turn restarts the conversation.
        model = machines.acquire(state if state in flow.spec.states else flow.spec.start)
        try:
            await turn.run(model)
        finally:
            machines.release(model)
        turn.check_storable()
        turn.conversation.version += 1
        turn.conversation.flow_version = flow.version
        return turn.outcome

    def error_reply(self, conversation: Conversation, event: Event) -> Outcome | None:
        """The flow's ``on_error`` messages, for a user whose message could not be handled
        (the caller gave up on it: an action raised, a template failed ...); None when the
        flow has none, or the event is not the user's message (nobody asked anything then).

        The conversation is not moved: ``Outcome.conversation`` only addresses the reply, and
        is not to be stored. Raises :class:`FlowRuntimeError` when ``on_error`` itself fails.
        """
        flow = self.flows[conversation.flow]
        if not flow.spec.on_error or not isinstance(event, UserMessage):
            return None
        turn = _Turn(self, flow, conversation.copy(), event)
        turn.address_reply(event)
        # Entry 0 is never a waiting state's, so the reply's delivery reports cannot set off
        # the state's `delivered` or `seen` rules: the state did not send it.
        turn.conversation.entry = 0
        turn.say_on_error()
        return turn.outcome

    def replace_flow(self, flow: Flow) -> None:
        """Use a new version of a flow (or a new flow) from the next event on.

        Conversations keep their state; one whose state the new version no longer has
        restarts at ``start`` on its next message (with a note in its history).
        """
        self._machines[flow.name] = _Machine(_compile(flow))
        self.flows[flow.name] = flow


class _Machine:
    """A flow's machine and the models it moves, lent to one turn at a time.

    A model holds nothing but a state name for the length of a turn; keeping a few attached
    between turns saves transitions' add_model/remove_model (which build the model's
    trigger methods anew) on every event. The pool is bounded by how many turns run at
    once, never by how many users there are (transitions #475: a model per user leaks).
    """

    MAX_IDLE = 128

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self._idle: list[_Model] = []

    def acquire(self, state: str) -> _Model:
        if self._idle:
            model = self._idle.pop()
            self.machine.set_state(state, model=model)
            return model
        model = _Model(state)
        self.machine.add_model(model, initial=state)
        return model

    def release(self, model: _Model) -> None:
        if len(self._idle) < self.MAX_IDLE:
            self._idle.append(model)
        else:
            self.machine.remove_model(model)


def _compile(flow: Flow) -> Machine:
    # transitions' plain Machine, not its AsyncMachine: flows put no callbacks on states or
    # transitions (the engine awaits its actions around the move), so a move has nothing to
    # await, and the async machine's context and callback gathering cost a third of a turn.
    machine = Machine(
        model=None,
        states=list(flow.spec.states),
        initial=flow.spec.start,
        auto_transitions=False,
    )
    added: set[tuple[str, str]] = set()
    for source, target, _ in edges(flow):
        if (source, target) not in added:
            added.add((source, target))
            machine.add_transition(f"go_{target}", source if source != "*" else "*", target)
    if ("*", flow.spec.start) not in added:
        # Restarting (a new conversation, or one whose state was removed) enters the start
        # state from anywhere.
        machine.add_transition(f"go_{flow.spec.start}", "*", flow.spec.start)
    return machine


class _Turn:
    """One event's processing for one conversation."""

    def __init__(
        self,
        engine: Engine,
        flow: Flow,
        conversation: Conversation,
        event: Event,
        *,
        reach_outside: bool = True,
    ) -> None:
        self.engine = engine
        self.reach_outside = reach_outside
        self.flow = flow
        self.conversation = conversation
        self.event = event
        self.message = event if isinstance(event, UserMessage) else None
        self.now = engine.clock()
        self.outcome = Outcome(conversation)
        self.moves = 0
        self.model: _Model | None = None
        self._template_context: dict[str, Any] | None = None

    # -- the event ------------------------------------------------------------------------

    async def run(self, model: _Model) -> None:
        self.model = model
        conversation = self.conversation
        event = self.event
        if isinstance(event, UserMessage):
            self.address_reply(event)
            if conversation.state is None or conversation.ended:
                await self._start()
                return
            if conversation.state not in self.flow.spec.states:
                self.note(f"state {conversation.state!r} no longer exists; restarting")
                await self._start()
                return
            entry = conversation.entry
            await self._user_message(event)
            if conversation.entry == entry and not conversation.ended:
                self._start_wait()  # handled without leaving: the clock starts again
        elif isinstance(event, Start):
            if conversation.waiting and not event.restart:
                raise self._error(
                    ("start",),
                    f"the conversation is in progress (state {conversation.state!r}); "
                    "restart it to start again",
                    refused=True,
                )
            conversation.channel = event.channel
            conversation.account = event.account or conversation.account
            await self._start(event.vars)
        elif isinstance(event, Timeout):
            if not conversation.waiting or conversation.timeout_at is None:
                return
            if self.now < conversation.timeout_at:
                return  # a stale timer: the user wrote since it was set
            conversation.timeout_at = None  # once per wait
            await self._named("timeout")
        elif (
            isinstance(event, DeliveryUpdate)
            and conversation.waiting
            and event.entry == conversation.entry
        ):
            await self._named(event.kind)

    def address_reply(self, message: UserMessage) -> None:
        """Answer on the channel and account the user wrote to, and note when they did (it
        opens WhatsApp's 24-hour window)."""
        conversation = self.conversation
        conversation.channel = message.channel
        # tyntec may leave out ``to`` (optional in its spec, absent from its own example): the
        # user then wrote to the account the flow answers from on that channel.
        flow_account = self.flow.spec.from_.get(message.channel)  # type: ignore[call-overload]
        conversation.account = message.to or flow_account or conversation.account
        conversation.name = message.name or conversation.name
        if conversation.account:
            conversation.last_inbound[account_key(conversation.account)] = self.now

    def check_storable(self) -> None:
        """Fail the turn, as the flow's mistake, if its variables cannot be stored: the store
        would refuse the turn on every try, and the user's conversation would be stuck."""
        problem = unstorable(self.conversation.vars)
        if problem is not None:
            raise self._error(self._path(), f"the turn left {problem}; {_KEEPABLE}")

    def say_on_error(self) -> None:
        self._say(self.flow.spec.on_error, ("on_error",))

    async def _start(self, given: dict[str, Any] | None = None) -> None:
        conversation = self.conversation
        conversation.vars = {**self.flow.spec.vars, **(given or {})}
        conversation.ended = False
        conversation.state = None
        await self._move(self.flow.spec.start)

    async def _user_message(self, message: UserMessage) -> None:
        state = self.state
        if await self._rules(self.flow.spec.globals, ("globals",), message=message):
            return
        own_rules = [r for r in state.on if not (r.else_ and (state.ask or state.otp))]
        if await self._rules(own_rules, self._path("on"), message=message):
            return
        if state.ask:
            await self._answer(message)
        elif state.otp:
            await self._otp_reply(message)

    async def _named(self, name: str) -> bool:
        """Handle a named event (timeout, verified, a call's result ...) by the rules."""
        if await self._rules(self.flow.spec.globals, ("globals",), event=name):
            return True
        return await self._rules(self.state.on, self._path("on"), event=name)

    async def _rules(
        self,
        rules: list[RuleSpec],
        at: Path,
        *,
        message: UserMessage | None = None,
        event: str | None = None,
    ) -> bool:
        for index, rule in enumerate(rules):
            if self._matches(rule, (*at, index), message=message, event=event):
                self.outcome.handled = True
                await self._run_rule(rule, (*at, index))
                return True
        return False

    def _matches(
        self, rule: RuleSpec, at: Path, *, message: UserMessage | None, event: str | None
    ) -> bool:
        if rule.else_:
            return message is not None
        assert rule.if_ is not None
        try:
            return condition_matches(
                rule.if_,
                event=event,
                message=message,
                evaluate=lambda expression: self._evaluate(expression, (*at, "if", "when")),
            )
        except SlowRegex as slow:
            raise self._slow_regex((*at, "if", "regex"), slow) from None

    async def _run_rule(self, rule: RuleSpec, at: Path) -> None:
        entry = self.conversation.entry
        self._set(rule.set, (*at, "set"))
        result = await self._call(rule.call, (*at, "call"))
        self._say(rule.say, (*at, "say"))
        if rule.goto:
            await self._goto(rule.goto, (*at, "goto"))
        elif result and self.conversation.entry == entry:
            await self._named(result)

    # -- states ---------------------------------------------------------------------------

    @property
    def state(self) -> StateSpec:
        assert self.conversation.state is not None
        return self.flow.state(self.conversation.state)

    def _path(self, *rest: str | int) -> Path:
        return ("states", self.conversation.state or "", *rest)

    async def _goto(self, branches: list[BranchSpec], at: Path) -> None:
        for index, branch in enumerate(branches):
            condition = branch.if_
            try:
                matched = condition is None or condition_matches(
                    condition,
                    event=None,
                    message=self.message,
                    evaluate=functools.partial(self._evaluate_at, (*at, index, "if", "when")),
                    in_branch=True,
                )
            except SlowRegex as slow:
                raise self._slow_regex((*at, index, "if", "regex"), slow) from None
            if matched:
                await self._move(branch.to)
                return
        self.note(f"no goto branch matched at {self.flow.position(*at)}; staying")

    async def _move(self, target: str) -> None:
        self.moves += 1
        if self.moves > self.engine.max_moves:
            raise self._error(
                ("states", target),
                f"more than {self.engine.max_moves} moves for one event: the flow loops "
                "without waiting for the user",
            )
        assert self.model is not None
        source = self.conversation.state
        self.model.trigger(f"go_{target}")
        self.outcome.transitions.append((source, target))
        await self._enter(target)

    async def _enter(self, name: str) -> None:
        conversation = self.conversation
        conversation.state = name
        conversation.entry += 1
        conversation.retries = 0
        conversation.otp_id = None
        conversation.timeout_at = None
        entry = conversation.entry
        state = self.flow.state(name)
        self._set(state.set, self._path("set"))
        result = await self._call(state.call, self._path("call"))
        self._say(state.say, self._path("say"))
        if state.final:
            conversation.ended = True
            return
        if state.otp:
            await self._start_otp(state)
        elif state.ask:
            self._say(state.ask, self._path("ask"))
        if conversation.entry != entry:
            return  # the OTP step failed and a rule moved on
        if result and await self._named(result):
            return
        if state.goto and not state.ask and not state.otp:
            await self._goto(state.goto, self._path("goto"))
        elif conversation.entry == entry:
            self._start_wait()

    def _start_wait(self) -> None:
        state = self.state
        if not state.waits:
            return
        timeout = state.timeout or self.flow.spec.timeout
        self.conversation.timeout_at = self.now + timeout if timeout else None

    # -- ask --------------------------------------------------------------------------------

    async def _answer(self, message: UserMessage) -> None:
        state = self.state
        try:
            valid, value = check_answer(state.expect, message, user_number=self.conversation.user)
        except SlowRegex as slow:
            raise self._slow_regex(self._path("expect", "regex"), slow) from None
        if valid:
            if state.save:
                self.conversation.vars[state.save] = value
            assert state.goto is not None
            await self._goto(state.goto, self._path("goto"))
            return
        self.conversation.retries += 1
        if state.max_retries and self.conversation.retries >= state.max_retries:
            await self._named("failed")
            return
        if state.retry:
            self._say(state.retry, self._path("retry"))
        else:
            self._say(state.ask, self._path("ask"))

    # -- otp --------------------------------------------------------------------------------

    async def _start_otp(self, state: StateSpec) -> None:
        assert state.otp is not None
        at = self._path("otp")
        number = _international(self._render(state.otp.number, (*at, "number")))
        api = self._api(at)
        try:
            sent = await api.two_factor.otp.send(
                number,
                via=state.otp.via,
                language=state.otp.language,
                application_id=state.otp.application,
            )
        except TyntecError as exc:
            await self._otp_failed(exc, at, f"OTP to {number} refused")
            return
        self.conversation.otp_id = sent.otp_id
        self._say(state.otp.prompt, (*at, "prompt"))

    async def _otp_failed(self, error: TyntecError, at: Path, what: str) -> None:
        """A 2FA call failed: tyntec refused it (4xx) -> the step fails; tyntec is down or
        unreachable -> the event is tried again later (the conversation stays as it was)."""
        if isinstance(error, APIError) and error.status < 500:
            self.note(f"{what}: {error}")
            await self._named("failed")
            return
        reason = "failed" if isinstance(error, APIError) else "is unreachable"
        raise self._error(at, f"the 2FA API {reason}: {error}", transient=True) from error

    async def _otp_reply(self, message: UserMessage) -> None:
        state = self.state
        assert state.otp is not None
        at = self._path("otp")
        code = (message.text or "").strip()
        otp_id = self.conversation.otp_id
        if otp_id is None:
            await self._named("failed")
            return
        api = self._api(at)
        try:
            if code.casefold() == "resend":
                await api.two_factor.otp.resend(otp_id)
                self._say(state.otp.resent or state.otp.prompt, (*at, "prompt"))
                return
            if not code:
                self._say(state.otp.prompt, (*at, "prompt"))
                return
            check = await api.two_factor.otp.check(otp_id, code)
        except TyntecError as exc:
            await self._otp_failed(exc, at, f"OTP {otp_id}")
            return
        outcome = check.outcome
        # A check replayed after a crash finds the OTP already verified (410 with status
        # VERIFIED): that is the user's success, not a failure.
        already = outcome is OtpCheckOutcome.GONE and (
            check.status is not None and check.status.otp_status == "VERIFIED"
        )
        if check.valid or already:
            self.conversation.otp_id = None
            if not await self._named("verified") and state.goto:
                await self._goto(state.goto, self._path("goto"))
        elif outcome is OtpCheckOutcome.WRONG_CODE:
            self._say(state.otp.invalid or state.otp.prompt, (*at, "invalid"))
        else:
            self.conversation.otp_id = None
            await self._named("failed")

    # -- actions, variables, messages ---------------------------------------------------------

    def _api(self, at: Path) -> TyntecClient:
        if not self.reach_outside:
            raise ReachesOutside(f"{self.flow.name}: the 2FA API, at {'.'.join(map(str, at))}")
        if self.engine.api is None:
            raise self._error(at, "this step needs the tyntec API, and the engine has no client")
        return self.engine.api

    def _context(self) -> dict[str, Any]:
        # Built once per turn (templates render into a context of their own, so this one is
        # not changed by them); what a move or a restart changes is refreshed on each use.
        conversation = self.conversation
        context = self._template_context
        if context is None:
            context = self._template_context = {
                "user": {
                    "number": conversation.user,
                    "name": conversation.name,
                    "channel": conversation.channel,
                },
                "message": self.message.template_view() if self.message else None,
                "flow": {"name": self.flow.name, "description": self.flow.spec.description},
            }
        context["vars"] = conversation.vars
        context["state"] = conversation.state
        return context

    def _render(self, text: str, at: Path) -> str:
        if not has_template(text):
            return text
        try:
            return self.engine.templates.render(text, self._context())
        except TemplateError as exc:
            raise self._error(at, f"template error: {exc.message}") from None

    def _value(self, value: Any, at: Path) -> Any:
        try:
            return self.engine.templates.value(value, self._context())
        except TemplateError as exc:
            raise self._error(at, f"template error: {exc.message}") from None

    def _render_at(self, at: Path, text: str) -> str:
        return self._render(text, at)

    def _value_at(self, at: Path, value: Any) -> Any:
        return self._value(value, at)

    def _evaluate_at(self, at: Path, expression: str) -> Any:
        return self._evaluate(expression, at)

    def _evaluate(self, expression: str, at: Path) -> Any:
        try:
            return self.engine.templates.evaluate(expression, self._context())
        except TemplateError as exc:
            raise self._error(at, f"error in when: {exc.message}") from None

    def _set(self, assignments: dict[str, Any], at: Path) -> None:
        for name, value in assignments.items():
            self.conversation.vars[name] = self._value(value, (*at, name))

    async def _call(self, target: str | None, at: Path) -> str | None:
        if target is None:
            return None
        if not self.reach_outside:
            raise ReachesOutside(f"{self.flow.name}: action {target}")
        conversation = self.conversation
        context = ActionContext(
            vars=conversation.vars,
            user=User(conversation.user, conversation.name, conversation.channel),
            message=self.message,
            flow=self.flow.name,
            state=conversation.state or "",
            api=self.engine.api,
        )
        try:
            action = self.flow.action(target)
            if inspect.iscoroutinefunction(action):
                result = await action(context)
            else:
                # A plain function may block (a database driver, a file); keep it off the loop.
                result = await asyncio.to_thread(action, context)
        except FlowRuntimeError:
            raise
        except TemporaryFailure as exc:
            raise self._error(at, f"action {target} asks to retry: {exc}", transient=True) from exc
        except Exception as exc:
            raise self._error(at, f"action {target} raised {type(exc).__name__}: {exc}") from exc
        problem = unstorable(conversation.vars)
        if problem is not None:
            raise self._error(at, f"action {target} put {problem}; {_KEEPABLE}")
        for item in context.sent:
            self._send(item, at)
        if result is not None and not isinstance(result, str):
            raise self._error(
                at, f"action {target} returned {result!r}; return an event name or None"
            )
        return result

    def _say(self, specs: list[MessageSpec] | None, at: Path) -> None:
        for index, spec in enumerate(specs or []):
            here = (*at, index)
            spec = self._within_window(spec, here)
            try:
                requests = build_requests(
                    spec,
                    conversation=self.conversation,
                    flow=self.flow.spec,
                    render=functools.partial(self._render_at, here),
                    value=functools.partial(self._value_at, here),
                )
            except (pydantic.ValidationError, ValueError) as exc:
                raise self._error(
                    here, f"cannot send this message: {_in_flow_terms(exc)}"
                ) from None
            origin = self.flow.position(*here)
            if len(requests) > 1:
                self.note(f"the text at {origin} is longer than its channel takes: sent in "
                          f"{len(requests)} messages")  # fmt: skip
            self.outcome.outbox += requests
            self.outcome.origins += [origin] * len(requests)

    def _within_window(self, spec: MessageSpec, at: Path) -> MessageSpec:
        """The message to send given WhatsApp's 24-hour window: outside it only templates
        are delivered, so a free-form message is swapped for its ``outside_window`` template,
        or leaves WhatsApp out of its fallback chain, or is an error before it is sent."""
        flow, conversation = self.flow.spec, self.conversation
        channels = channels_for(spec, conversation, flow)
        if channels[0] != "whatsapp" or spec.template is not None:
            return spec
        account = sender_for(spec, conversation, flow, "whatsapp")
        if account is None:
            raise self._error(
                at,
                "no WhatsApp account to send from: the user's message named none (it had no "
                "`to`) and the flow gives none; set the flow's from: {whatsapp: ...}",
            )
        if window_open(conversation, account, self.now):
            return spec
        if spec.outside_window is not None:
            self.note("outside the 24-hour window: sending the outside_window template")
            return spec.outside_window.model_copy(update={"channels": spec.channels})
        if len(channels) > 1:
            self.note("outside the 24-hour window: leaving WhatsApp out of the chain")
            return spec.model_copy(update={"channels": channels[1:]})
        raise self._error(
            at,
            "WhatsApp delivers only templates outside the 24-hour customer-care window "
            "(the user has not written in the last 24 hours); give this message an "
            "outside_window: {template: ..., language: ...}",
        )

    def _send(self, item: str | MessageRequest | dict[str, Any], at: Path) -> None:
        if isinstance(item, MessageRequest):
            self.outcome.outbox.append(item)
            self.outcome.origins.append(self.flow.position(*at))
            return
        try:
            spec = MessageSpec.model_validate({"text": item} if isinstance(item, str) else item)
        except pydantic.ValidationError as exc:
            raise self._error(at, f"ctx.send got an invalid message: {_short(exc)}") from None
        self._say([spec], at)

    # -- reporting ------------------------------------------------------------------------------

    def note(self, text: str) -> None:
        self.outcome.notes.append(text)
        log.info("%s %s: %s", self.flow.name, self.conversation.user, text)

    def _slow_regex(self, at: Path, slow: SlowRegex) -> FlowRuntimeError:
        return self._error(
            at,
            f"regex {slow.pattern!r} took over {REGEX_TIMEOUT:g} s on a message of "
            f"{slow.length} characters and was stopped; a repetition inside a repetition, "
            r"like (\w+\s?)+, can take that long: write it without one",
        )

    def _error(
        self, at: Path, message: str, *, transient: bool = False, refused: bool = False
    ) -> FlowRuntimeError:
        return FlowRuntimeError(
            self.flow.position(*at),
            self.flow.name,
            self.conversation.state,
            message,
            transient=transient,
            refused=refused,
        )


_KEEPABLE = (
    "variables keep text, numbers, true/false, null, lists and mappings with text keys "
    "(a date as its .isoformat())"
)


def _international(number: str) -> str:
    # tyntec's webhooks write numbers without "+"; the 2FA API wants E.164.
    number = number.strip()
    return f"+{number}" if number.isdigit() else number


def _in_flow_terms(error: Exception) -> str:
    """The client's complaint about a message, said with the flow's keys rather than the
    client's parameters (``from:``, not ``from_=``)."""
    if isinstance(error, MissingSender):
        return (
            f"no {error.channel} account to send from: give the message, or the flow, "
            f"`from: {{{error.channel}: ACCOUNT}}`"
        )
    if isinstance(error, MissingSmsText):
        return (
            f"SMS cannot carry a {error.kind} message: give it an `sms_text:`, the text SMS "
            "sends instead"
        )
    return _short(error)


def _short(error: Exception) -> str:
    if isinstance(error, pydantic.ValidationError):
        return "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in error.errors())
    return str(error)
