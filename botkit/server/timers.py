"""The timer loop: turns passed deadlines (stored with each conversation) into timeout events
in the inbox. Deadlines are data in the database, so they fire after a restart too."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from ..store import InboxEvent, Store
from .intake import timeout_event

__all__ = ["TimerLoop"]

log = logging.getLogger("botkit.server")


class TimerLoop:
    """Sleeps until the earliest deadline (or until told a new one was set), then enqueues
    a timeout for every conversation whose deadline has passed."""

    def __init__(
        self,
        store: Store,
        enqueue: Callable[[InboxEvent], None],
        *,
        clock: Callable[[], float] = time.time,
        max_sleep: float = 30.0,
    ) -> None:
        self.store = store
        self.enqueue = enqueue
        self.clock = clock
        self.max_sleep = max_sleep
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._next: float | None = None  # the earliest deadline the loop sleeps towards

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def deadline_set(self, deadline: float) -> None:
        """A conversation now waits until ``deadline``: wake earlier if that is sooner.

        Costs nothing per event unless the deadline is the earliest (no database read)."""
        if self._next is None or deadline < self._next:
            self._next = deadline
            self._changed.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def fire_due(self) -> int:
        """Enqueue timeouts for every passed deadline; how many were new."""
        now = self.clock()
        due = await self.store.due_timeouts(now)
        if not due:
            return 0
        events = [timeout_event(flow, user, deadline) for (flow, user), deadline in due]
        fired = 0
        for stored in await self.store.accept(events, now=now):
            if stored is not None:  # None: already queued (a duplicate key)
                fired += 1
                self.enqueue(stored)
        return fired

    async def _run(self) -> None:
        while True:
            try:
                await self.fire_due()
                self._next = await self.store.next_deadline()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("timer loop failed; trying again")
                self._next = None
            now = self.clock()
            # A passed deadline whose timeout is queued but not yet processed: look again
            # shortly rather than spin.
            deadline = self._next
            sleep = self.max_sleep if deadline is None else min(self.max_sleep, deadline - now)
            self._changed.clear()
            try:
                async with asyncio.timeout(max(sleep, 0.05)):
                    await self._changed.wait()
            except TimeoutError:
                pass
