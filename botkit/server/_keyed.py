"""Work that runs one at a time per conversation and concurrently across conversations."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ..store import ConversationKey

__all__ = ["KeyedWorkers"]

log = logging.getLogger("botkit.server")


class KeyedWorkers:
    """Runs ``work(key)`` for each key that is poked, never twice at once for the same key.

    A poke while the key's work runs makes it run again right after, so nothing poked is
    missed; ``limit`` bounds how many keys run at once.
    """

    def __init__(
        self, name: str, work: Callable[[ConversationKey], Awaitable[None]], *, limit: int = 64
    ) -> None:
        self.name = name
        self._work = work
        self._running: dict[ConversationKey, asyncio.Task[None]] = {}
        self._again: set[ConversationKey] = set()
        self._slots = asyncio.Semaphore(limit)
        self._closed = False

    def poke(self, key: ConversationKey) -> None:
        if self._closed:
            return
        if key in self._running:
            self._again.add(key)
            return
        self._running[key] = asyncio.get_running_loop().create_task(self._run(key))

    async def _run(self, key: ConversationKey) -> None:
        try:
            while True:
                async with self._slots:
                    try:
                        await self._work(key)
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        log.exception("%s for %s/%s failed", self.name, *key)
                if key not in self._again or self._closed:
                    return
                self._again.discard(key)
        finally:
            self._running.pop(key, None)

    @property
    def busy(self) -> bool:
        return bool(self._running)

    async def idle(self) -> None:
        """Wait until no work runs."""
        while self._running:
            await asyncio.gather(*list(self._running.values()), return_exceptions=True)

    async def close(self, timeout: float) -> None:
        """Stop taking pokes; let running work finish for ``timeout`` seconds, then cancel."""
        self._closed = True
        tasks = list(self._running.values())
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
