"""The processor: takes accepted events from the inbox and runs them through the engine, one
at a time per conversation in arrival order, and commits each turn (new state, messages to
send, the event marked done) in one transaction.

A user's message usually finds its conversation idle, and its turn only moves and says
things. Such a turn runs before its event is accepted, and is committed in the same
transaction as the event (:meth:`Processor.receive`): one commit, not two, between the
user's message and the reply, with the same guarantees (the webhook is answered after the
commit; a duplicate's turn is dropped unwritten, and it has done nothing outside)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..flow import (
    Conversation,
    Engine,
    FlowRuntimeError,
    Outcome,
)
from ..flow.outgoing import describe
from ..store import (
    ConversationKey,
    InboxEvent,
    NewEvent,
    OutboxMessage,
    StaleConversation,
    Store,
    UnreadableConversation,
    UnstorableEvent,
)
from ._inbox_events import engine_event, event_story, turn_story
from ._keyed import KeyedWorkers
from .metrics import Metrics

__all__ = ["Processor", "TurnResult"]

log = logging.getLogger("botkit.server")

#: Waits between tries of an event that failed for a passing reason (a backend was down).
RETRY_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


class Processor:
    """Runs inbox events through the engine.

    ``on_turn`` is told after each committed turn, so the sender and the timer loop can act
    on what changed. With ``hand_over``, a turn's messages go to it at the commit itself, a
    loop turn or two before ``on_turn`` hears of the turn (which then gets no messages).
    """

    def __init__(
        self,
        store: Store,
        engine: Engine,
        metrics: Metrics,
        *,
        on_turn: Callable[[Conversation | None, list[OutboxMessage]], Awaitable[None]],
        hand_over: Callable[[list[OutboxMessage]], None] | None = None,
        clock: Callable[[], float] = time.time,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
    ) -> None:
        self.store = store
        self.engine = engine
        self.metrics = metrics
        self.on_turn = on_turn
        self.hand_over = hand_over
        self.clock = clock
        self.retry_delays = retry_delays
        self.workers = KeyedWorkers("processing", self._drain, limit=64)
        self._results: dict[str, asyncio.Future[TurnResult]] = {}
        # Accepted events waiting for their turn, per conversation. The database holds them
        # too; these queues only save reading them back (a restart refills them from it).
        self._queues: dict[ConversationKey, deque[InboxEvent]] = {}
        self._store_failures: dict[ConversationKey, int] = {}  # in a row, for the backoff
        # Webhook events between their arrival and the inbox, per conversation: they go in
        # one at a time, in arrival order, through the conversation's gate (so the inbox
        # keeps each user's order). And the turns run before their event is accepted, which
        # events queued meanwhile (a timer's) wait for.
        self._arriving: dict[ConversationKey, int] = {}
        self._gates: dict[ConversationKey, asyncio.Lock] = {}
        self._turning: dict[ConversationKey, asyncio.Future[None]] = {}

    async def start(self) -> None:
        """Process what was accepted but not processed before the last stop (or crash)."""
        for event in await self.store.pending_events():
            self.submit(event)

    async def receive(self, event: NewEvent) -> InboxEvent | None:
        """Accept a webhook event of a conversation durably (the webhook is answered after
        this); None when it duplicates one accepted before.

        A conversation's events go in one at a time, in arrival order. When nothing of the
        conversation waits for its turn, a user's message runs its turn first, allowed to
        move and say but not to reach outside (an action, an OTP call), and the turn commits
        with the event. A turn that would reach outside, or fails, is dropped and runs the
        usual way: the event accepted and queued, its turn after the commit."""
        assert event.flow is not None, "only events of a conversation"
        assert event.user is not None, "only events of a conversation"
        key = (event.flow, event.user)
        gate = self._gates.get(key)
        if gate is None:
            gate = self._gates[key] = asyncio.Lock()  # its waiters go in arrival order
        self._arriving[key] = self._arriving.get(key, 0) + 1
        try:
            async with gate:
                if (
                    event.kind in ("message", "sms")
                    and event.flow in self.engine.flows
                    and key not in self._queues
                ):
                    return await self._receive_at_once(event, key)
                return await self._accept(event)
        finally:
            left = self._arriving.pop(key) - 1
            if left:
                self._arriving[key] = left
            else:
                del self._gates[key]

    async def receive_own(self, event: NewEvent) -> InboxEvent | None:
        """Accept an event of the bot's own making (a refused message's), queued behind the
        conversation's accepted events. Not through the conversation's gate: it may come from
        within a turn of the same conversation (whose sending it is), which holds the gate."""
        return await self._accept(event)

    async def _accept(self, event: NewEvent) -> InboxEvent | None:
        (stored,) = await self.store.accept([event], now=self.clock())
        if stored is not None:
            self.submit(stored)
        return stored

    async def _receive_at_once(self, event: NewEvent, key: ConversationKey) -> InboxEvent | None:
        done = asyncio.get_running_loop().create_future()
        self._turning[key] = done
        try:
            turn = await self._turn_before_accepting(event, key)
            if turn is None:
                return await self._accept(event)
            outcome, stored = turn
            outbox = [_no_reply_back(request.to_payload()) for request in outcome.outbox]
            try:
                accepted, queued = await self.store.accept_turn(
                    event,
                    outcome.conversation,
                    outbox,
                    now=self.clock(),
                    expected_version=stored.version if stored else None,
                    story=turn_story(event, outcome, outbox),
                    on_commit=self.hand_over,
                )
            except UnstorableEvent:
                raise  # the usual way could not store it either
            except Exception as error:
                # Nothing was written: the conversation changed outside this server since
                # it was cached (`botkit conversations reset`), or the store refused the
                # turn. The usual way runs it anew, and retries a store failure with backoff.
                log.warning(
                    "%s %s: %s; the event goes the usual way", *key, error,
                    extra=_context(event, stored.state if stored else None),
                )  # fmt: skip
                return await self._accept(event)
            if accepted is not None:
                await self._turn_stored(accepted, outcome, outbox, queued)
            return accepted
        finally:
            del self._turning[key]
            done.set_result(None)  # events queued meanwhile (a timer's) wait for it in _drain

    async def _turn_before_accepting(
        self, event: NewEvent, key: ConversationKey
    ) -> tuple[Outcome, Conversation | None] | None:
        """The turn of ``event`` if it can run before the event is accepted; None when it
        is to run the usual way."""
        try:
            stored = await self.store.load(key)
            conversation = stored or self.engine.new_conversation(*key)
            outcome = await self.engine.handle(
                conversation, engine_event(event), reach_outside=False
            )
        except Exception:  # ReachesOutside, or a failure: the usual way records or retries it
            return None
        return outcome, stored

    def submit(self, event: InboxEvent) -> None:
        """An accepted (committed) event to process, after the conversation's earlier ones."""
        key = (event.flow, event.user)
        self._queues.setdefault(key, deque()).append(event)
        self.workers.poke(key)

    def notify(self, key: ConversationKey) -> None:
        self.workers.poke(key)

    def expect(self, request: str) -> asyncio.Future[TurnResult]:
        """A future for the result of the event whose payload carries ``request`` (events
        started through the API wait for their turn this way)."""
        future = asyncio.get_running_loop().create_future()
        self._results[request] = future
        return future

    def _resolve(self, event: InboxEvent, result: Callable[[], TurnResult]) -> None:
        """Tell whoever waits for ``event`` (an operator API start) what it came to; the
        result is made only then (webhook events, the usual ones, have nobody waiting)."""
        request = event.payload.get("request")
        future = self._results.pop(request, None) if isinstance(request, str) else None
        if future is not None and not future.done():
            future.set_result(result())

    async def _drain(self, key: ConversationKey) -> None:
        ahead = self._turning.get(key)
        if ahead is not None:  # a turn run before its event was accepted comes first
            await asyncio.shield(ahead)
        queue = self._queues.get(key)
        while queue:
            try:
                done = await self._process(queue[0])
            except Exception as error:
                # The store failed before the turn was stored (a full disk, say). The event
                # stays first, and is tried again later, not only when the user next writes.
                if not await self._dropped_after(key, queue[0], error):
                    return
                done = True
            self._store_failures.pop(key, None)
            if not done:
                return  # postponed: it stays first, and a timer pokes the key again later
            queue.popleft()
        self._queues.pop(key, None)

    async def _dropped_after(
        self, key: ConversationKey, event: InboxEvent, error: Exception
    ) -> bool:
        """After the store failed to take ``event``'s turn: True when the turn is dropped
        for good (the event recorded as failed, the user told with ``on_error``), False
        when the event is tried again later.

        The database's own trouble (a full disk) is waited out, however long it lasts. A
        write that fails the same other way through the whole schedule never will be
        stored, and would hold up the user's later events for ever."""
        failures = self._store_failures.get(key, 0)
        if failures >= len(self.retry_delays) and not self.store.database_trouble(error):
            log.error("%s %s: event %d: the store refused its turn %d times; dropping the turn",
                      *key, event.id, failures + 1)  # fmt: skip
            try:
                return await self._failed(event, None, f"the store refused this turn: {error}")
            except Exception:
                log.exception("%s %s: recording the dropped turn failed", *key)
        delay = self.retry_delays[min(failures, len(self.retry_delays) - 1)]
        self._store_failures[key] = failures + 1
        log.error("%s %s: the store failed; trying the event again in %gs", *key, delay,
                  exc_info=error)  # fmt: skip
        asyncio.get_running_loop().call_later(delay, self.notify, key)
        return False

    async def _process(self, event: InboxEvent, *, again: bool = False) -> bool:
        key = (event.flow, event.user)
        if event.flow not in self.engine.flows:
            await self.store.finish_turn(
                event.id,
                None,
                [],
                now=self.clock(),
                error=f"no flow {event.flow!r} loaded",
                key=key,
            )
            return True
        try:
            stored = await self.store.load(key)
        except UnreadableConversation as error:
            # Trying again will not mend the row, and running the event on a new
            # conversation would forget where the user was: the event fails (the user
            # hears the flow's on_error), as the user's later ones will, until an operator
            # resets the conversation, as the error says.
            if event.kind in ("message", "sms", "start"):
                return await self._failed(event, None, str(error))
            if event.kind == "timeout":
                await self.store.clear_deadline(key)  # or its timer fires again at once
            # A delivery report or a timeout: recorded, without an ERROR line each (the
            # user's messages say it already).
            log.warning("%s %s: event %d (%s) not handled: %s", *key, event.id, event.kind,
                        error, extra=_context(event, None))  # fmt: skip
            await self.store.finish_turn(event.id, None, [], now=self.clock(), error=str(error),
                                         key=key)  # fmt: skip
            return True
        if stored is None and event.kind not in ("message", "sms", "start"):
            # A delivery report or timer for a conversation that was reset: nothing to do.
            await self.store.finish_turn(event.id, None, [], now=self.clock(), key=key)
            return True
        conversation = stored or self.engine.new_conversation(event.flow, event.user)
        try:
            outcome = await self.engine.handle(conversation, engine_event(event))
        except FlowRuntimeError as error:
            return await self._failed(
                event, stored, str(error), transient=error.transient, refused=error.refused
            )
        except Exception as error:  # a bug must not stop the server or lose the event's order
            log.exception("event %d of %s/%s failed", event.id, *key)
            return await self._failed(event, stored, f"{type(error).__name__}: {error}")
        outbox = [_no_reply_back(request.to_payload()) for request in outcome.outbox]
        try:
            queued = await self.store.finish_turn(
                event.id,
                outcome.conversation,
                outbox,
                now=self.clock(),
                expected_version=stored.version if stored else None,
                story=turn_story(event, outcome, outbox),
                key=key,
                on_commit=self.hand_over,
            )
        except StaleConversation as error:
            if again:
                raise
            # Changed outside this server since it was cached (`botkit conversations reset`):
            # nothing of this turn was written or sent. Run the event on what is stored now;
            # an action the flow called runs a second time.
            log.warning(
                "%s %s: %s; running event %d again", event.flow, event.user, error, event.id,
                extra=_context(event, stored.state if stored else None),
            )  # fmt: skip
            return await self._process(event, again=True)
        await self._turn_stored(event, outcome, outbox, queued)
        return True

    async def _turn_stored(
        self,
        event: InboxEvent,
        outcome: Outcome,
        outbox: list[dict[str, Any]],
        queued: list[OutboxMessage],
    ) -> None:
        """Count, log and hand on a committed turn."""
        key = (event.flow, event.user)
        self.metrics.count("botkit_events_processed_total", outcome="ok")
        self.metrics.observe_latency(max(0.0, self.clock() - event.received_at))
        moves = " ".join(f"{a or '(start)'}->{b}" for a, b in outcome.transitions)
        log.info(
            "%s %s: %s handled%s, %d message(s)",
            event.flow, event.user, event.kind, f" ({moves})" if moves else "", len(queued),
            extra=_context(event, outcome.conversation.state),
        )  # fmt: skip
        try:
            await self.on_turn(outcome.conversation, [] if self.hand_over else queued)
        except Exception:  # the turn is stored and must not run again; its messages are too
            log.exception("%s %s: handing on what event %d queued failed", *key, event.id)
        self._resolve(
            event,
            lambda: TurnResult(outcome.conversation, [describe(r) for r in outbox], None),
        )

    async def _failed(
        self,
        event: InboxEvent,
        stored: Conversation | None,
        error: str,
        *,
        transient: bool = False,
        refused: bool = False,
    ) -> bool:
        key = (event.flow, event.user)
        if transient and event.attempts < len(self.retry_delays):
            delay = self.retry_delays[event.attempts]
            log.warning(
                "%s %s: %s; trying again in %gs", event.flow, event.user, error, delay,
                extra=_context(event, stored.state if stored else None),
            )  # fmt: skip
            await self.store.postpone_event(event.id, error, now=self.clock())
            queue = self._queues.get(key)
            if queue and queue[0] is event:
                queue[0] = dataclasses.replace(event, attempts=event.attempts + 1)
            asyncio.get_running_loop().call_later(delay, self.notify, key)
            self.metrics.count("botkit_events_processed_total", outcome="postponed")
            return False
        # A refusal (a campaign run again starts conversations in progress) is the caller's
        # answer (409), not the bot's failure: an ERROR line for each would bury real ones.
        log.log(
            logging.INFO if refused else logging.ERROR,
            "%s %s: event %d (%s) %s: %s", event.flow, event.user, event.id, event.kind,
            "refused" if refused else "failed", error,
            extra=_context(event, stored.state if stored else None),
        )  # fmt: skip
        keep = stored
        if stored is not None and event.kind == "timeout":
            # The wait is over even if handling it failed; otherwise the timer fires forever.
            keep = stored.copy()
            keep.timeout_at = None
            keep.version += 1
        outbox = self._error_reply(event, stored)
        queued = await self.store.finish_turn(
            event.id,
            keep if keep is not stored else None,
            outbox,
            now=self.clock(),
            error=error,
            expected_version=stored.version if stored else None,
            story=[*event_story(event, True), ("error", error)],
            key=key,
            on_commit=self.hand_over,
        )
        self.metrics.count("botkit_events_processed_total", outcome="error")
        if queued and not self.hand_over:
            try:
                await self.on_turn(keep, queued)
            except Exception:  # the event is done and must not run again
                log.exception("%s %s: handing on event %d's error reply failed", *key, event.id)
        self._resolve(
            event, lambda: TurnResult(stored, [describe(r) for r in outbox], error, refused)
        )
        return True

    def _error_reply(self, event: InboxEvent, stored: Conversation | None) -> list[dict[str, Any]]:
        """The flow's ``on_error`` messages for a user whose message failed for good, so that
        they are not left without an answer; none when the flow has none."""
        conversation = stored or self.engine.new_conversation(event.flow, event.user)
        try:
            outcome = self.engine.error_reply(conversation, engine_event(event))
        except Exception as error:  # on_error itself failed: the event's error is logged
            log.error(
                "%s %s: the flow's on_error failed too: %s", event.flow, event.user, error,
                extra=_context(event, stored.state if stored else None),
            )  # fmt: skip
            return []
        if outcome is None:
            return []
        return [_no_reply_back(request.to_payload()) for request in outcome.outbox]


def _no_reply_back(payload: dict[str, Any]) -> dict[str, Any]:
    """The bot never asks tyntecEcho to reply back: its answer would come back to it as a
    user's message, and be answered, and so on."""
    echo = payload.get("tyntecEcho")
    if isinstance(echo, dict) and echo.pop("replyBack", None):
        log.warning("a message on tyntecEcho asked for replyBack; sent without it")
    return payload


def _context(event: InboxEvent | NewEvent, state: str | None) -> dict[str, Any]:
    """The conversation fields of a log record (shown as JSON fields with --log-json)."""
    return {"flow": event.flow, "user": event.user, "state": state, "event": event.kind}


@dataclass(frozen=True)
class TurnResult:
    """What processing one event came to: the conversation after it, the messages queued
    (described for people), or the error that stopped it."""

    conversation: Conversation | None
    sent: list[str]
    error: str | None
    #: The flow turned the event down (see FlowRuntimeError.refused).
    refused: bool = False
