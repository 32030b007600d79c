"""The sender: sends the outbox to tyntec, one message at a time per conversation (so a user
reads them in order), and records each tyntec message id as soon as tyntec accepts it.

A failed send is retried with backoff across restarts (the next attempt's time is stored)
when the failure may pass: tyntec's 429 and 5xx, a timeout, no connection. A 4xx other than
429 is final: the message is marked failed and the next one goes out.

What became of each message is told to a :class:`~.ledger.SendLedger`: the store itself
when the sender runs in the server's process, a pipe back to it when it runs in its own
(:mod:`.send_process`).

The one duplicate no client can prevent: tyntec accepted a message (202) and the process died
before the id was recorded. On restart the message is pending and goes out again. The window
is one local SQLite commit long.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable

from ..store import ConversationKey, OutboxMessage
from ..tyntec import APIError, RateLimitError, TransportError, TyntecClient
from ._keyed import KeyedWorkers
from .ledger import SendLedger

__all__ = ["Sender"]

log = logging.getLogger("botkit.server")


class Sender:
    """Sends pending outbox messages; see the module docstring for the policy."""

    def __init__(
        self,
        api: TyntecClient,
        ledger: SendLedger,
        *,
        clock: Callable[[], float] = time.time,
        base_delay: float = 1.0,
        max_delay: float = 300.0,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.api = api
        self.ledger = ledger
        self.clock = clock
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.jitter = jitter
        self.workers = KeyedWorkers("sending", self._drain, limit=64)
        self._wakeups: dict[asyncio.Handle, float] = {}
        # Committed messages not sent yet, per conversation, in order; the database holds
        # them too (a restart refills these queues from it).
        self._queues: dict[ConversationKey, deque[OutboxMessage]] = {}

    async def start(self) -> None:
        """Nothing to start: this sender runs in the caller's process."""

    @property
    def busy(self) -> bool:
        return self.workers.busy

    async def idle(self) -> None:
        """Wait until nothing is being sent."""
        await self.workers.idle()

    async def deliver(self, messages: list[OutboxMessage]) -> None:
        """Send committed messages now, in order, from the caller's task (the processor's,
        right after the turn committed). What has to wait goes to the conversation's queue:
        messages behind an earlier one still pending, and a failed send to retry."""
        for index, message in enumerate(messages):
            if (message.flow, message.user) in self._queues:
                self.submit(messages[index:])  # keep the conversation's order
                return
            retry = await self._send(message)
            if retry is not None:
                self.submit([retry, *messages[index + 1 :]])
                return

    def submit(self, messages: list[OutboxMessage]) -> None:
        """Committed messages to send, after their conversation's earlier ones."""
        for message in messages:
            key = (message.flow, message.user)
            self._queues.setdefault(key, deque()).append(message)
            self.workers.poke(key)

    async def flush(self, timeout: float) -> None:
        """Let the messages that are due go out, for at most ``timeout`` seconds."""
        try:
            async with asyncio.timeout(timeout):
                for key in list(self._queues):
                    self.workers.poke(key)
                await self.workers.idle()
        except TimeoutError:
            log.warning("shutdown: messages still unsent after %gs; they go out on start", timeout)

    async def close(self, timeout: float) -> None:
        for handle in self._wakeups:
            handle.cancel()
        await self.workers.close(timeout)

    async def _drain(self, key: ConversationKey) -> None:
        queue = self._queues.get(key)
        while queue:
            message = queue[0]
            wait = message.next_attempt_at - self.clock()
            if wait > 0:
                self._wake_later(key, wait)
                return
            outcome = await self._send(message)
            if outcome is not None:  # to be retried: it stays first, the rest waits
                queue[0] = outcome
                return
            queue.popleft()
        self._queues.pop(key, None)

    def _wake_later(self, key: ConversationKey, delay: float) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        # Keep only the wake-ups still ahead, so they do not pile up with every retry. Their
        # times are kept here: uvloop hands back a plain Handle, with no when(), for delays
        # under a millisecond.
        self._wakeups = {handle: at for handle, at in self._wakeups.items() if at > now}
        self._wakeups[loop.call_later(delay, self.workers.poke, key)] = now + delay

    async def _send(self, message: OutboxMessage) -> OutboxMessage | None:
        """Send one message; the message as it is to be retried, or None when done with.

        The stored payload was checked when the flow built it, and is sent as it is."""
        try:
            accepted = await self.api.chat.send(message.request)
        except (RateLimitError, TransportError) as exc:
            return await self._retry(message, exc, getattr(exc, "retry_after", None))
        except APIError as exc:
            if exc.status >= 500:
                return await self._retry(message, exc, None)
            await self._give_up(message, str(exc))
            return None
        await self._record(self.ledger.sent(message, accepted.message_id))
        return None

    async def _retry(
        self, message: OutboxMessage, error: Exception, hint: float | None
    ) -> OutboxMessage:
        ceiling = min(self.max_delay, self.base_delay * 2.0**message.attempts)
        delay = hint if hint is not None else ceiling * (0.5 + self.jitter() / 2)
        log.warning(
            "%s %s: sending message %d failed (%s); retry in %.1fs",
            message.flow, message.user, message.id, error, delay,
        )  # fmt: skip
        now = self.clock()
        await self._record(self.ledger.retrying(message, str(error), now + delay))
        self._wake_later((message.flow, message.user), delay)
        return dataclasses.replace(
            message, attempts=message.attempts + 1, next_attempt_at=now + delay
        )

    async def _give_up(self, message: OutboxMessage, error: str) -> None:
        log.error("%s %s: message %d refused: %s", message.flow, message.user, message.id, error)
        await self._record(self.ledger.failed(message, error))

    @staticmethod
    async def _record(outcome: Awaitable[None]) -> None:
        """Record what became of a message. A failure to record it (a full disk) must not
        stop the sending: the record is what a restart starts from, and at worst a restart
        sends the message again."""
        try:
            await outcome
        except Exception:
            log.exception("recording what became of a message failed")
