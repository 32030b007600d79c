"""Where the sender records what became of each message: sent (with tyntec's id), to be
retried, or refused for good.

:class:`StoreLedger` writes it to the store and counts it in the metrics. The sender calls it
directly when it runs in the server's process; when it runs in a process of its own, its
reports come back over a pipe and the server applies them to the same ledger.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from ..store import OutboxMessage, Store
from .metrics import Metrics

__all__ = ["SendLedger", "StoreLedger"]

log = logging.getLogger("botkit.server")


class SendLedger(Protocol):
    """What a sender tells about each message it tried."""

    async def sent(self, message: OutboxMessage, message_id: str) -> None:
        """tyntec accepted ``message`` as ``message_id``."""

    async def retrying(self, message: OutboxMessage, error: str, retry_at: float) -> None:
        """Sending failed for a passing reason; the next try is at ``retry_at``."""

    async def failed(self, message: OutboxMessage, error: str) -> None:
        """tyntec refused ``message`` for good."""


class StoreLedger:
    """Records send outcomes in the store and the metrics, and tells ``on_sent`` of each
    message tyntec accepted (the loop guard and the message watchers hear of it there), and
    ``on_refused`` of each it refused (the conversation hears of it there)."""

    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        *,
        clock: Callable[[], float] = time.time,
        on_sent: Callable[[OutboxMessage, str], None] | None = None,
        on_refused: Callable[[OutboxMessage, str], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.clock = clock
        self.on_sent = on_sent
        self.on_refused = on_refused

    async def sent(self, message: OutboxMessage, message_id: str) -> None:
        await self.store.mark_sent(message.id, message_id, now=self.clock())
        self.metrics.count("botkit_sends_total")
        if self.on_sent is not None:
            self.on_sent(message, message_id)

    async def retrying(self, message: OutboxMessage, error: str, retry_at: float) -> None:
        await self.store.mark_retry(message.id, error, retry_at=retry_at, now=self.clock())
        self.metrics.count("botkit_send_retries_total")

    async def failed(self, message: OutboxMessage, error: str) -> None:
        # Told before the mark: after a crash between the two, the message is sent again,
        # refused again, and its event is a duplicate; the other way round, it would be lost.
        if self.on_refused is not None:
            try:
                await self.on_refused(message, error)
            except Exception:  # the mark must still be made, or the message goes out forever
                log.exception("%s %s: telling of refused message %d failed", *_key(message))
        await self.store.mark_failed(message.id, error, now=self.clock())
        self.metrics.count("botkit_send_failures_total")


def _key(message: OutboxMessage) -> tuple[str, str, int]:
    return message.flow, message.user, message.id
