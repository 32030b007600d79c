"""Posts notifications (MessageStatus, MoMessage, inbound SMS) to the bot's webhook, the way
tyntec does: one HTTP POST per event, retried while the webhook does not answer 2xx."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import aiohttp

__all__ = ["Delivery", "Notifier"]

log = logging.getLogger("botkit.sandbox")


@dataclass
class Delivery:
    """One notification and what became of it."""

    url: str
    payload: dict[str, Any]
    status: int | None = None
    attempts: int = 0
    error: str | None = None


@dataclass
class Notifier:
    """Delivers notifications in the background and keeps a log of them.

    tyntec retries every 10 s for 48 h; the sandbox retries ``retries`` times ``retry_delay``
    apart, enough for a test to see a retry without waiting minutes.
    """

    retries: int = 3
    retry_delay: float = 0.2
    timeout: float = 10.0
    deliveries: list[Delivery] = field(default_factory=list)
    _session: aiohttp.ClientSession | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in the background; it is cancelled when the sandbox stops."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def busy(self) -> bool:
        """True while notifications are on their way."""
        return bool(self._tasks)

    async def idle(self) -> None:
        """Wait until every notification scheduled so far has been delivered or given up."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def post(self, url: str, payload: dict[str, Any]) -> Delivery:
        """Deliver one notification now, retrying a non-2xx answer; return what happened."""
        delivery = Delivery(url, payload)
        self.deliveries.append(delivery)
        if self._session is None:
            delivery.error = "sandbox is not running"
            return delivery
        while delivery.attempts <= self.retries:
            delivery.attempts += 1
            try:
                async with self._session.post(url, json=payload) as response:
                    delivery.status = response.status
                    delivery.error = None
                    if response.status < 300:
                        return delivery
            except (aiohttp.ClientError, TimeoutError) as exc:
                delivery.error = f"{type(exc).__name__}: {exc}"
            if delivery.attempts <= self.retries:
                await asyncio.sleep(self.retry_delay)
        log.warning(
            "sandbox: %s to %s not accepted after %d attempts (%s)",
            payload.get("event", "notification"),
            url,
            delivery.attempts,
            delivery.error or f"HTTP {delivery.status}",
        )
        return delivery
