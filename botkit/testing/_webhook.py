"""A webhook endpoint for tests: it records every notification posted to it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import web

__all__ = ["WebhookRecorder"]


class WebhookRecorder:
    """An aiohttp endpoint that keeps every JSON body posted to it, in order.

    ``answers`` are the statuses of the next requests (then 200), to play a webhook that
    fails before it succeeds.
    """

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.answers: list[int] = []
        self.url = ""
        self._arrived = asyncio.Event()

    def app(self) -> web.Application:
        """The aiohttp app to serve (any POST path is recorded)."""
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._receive)
        return app

    async def _receive(self, request: web.Request) -> web.Response:
        status = self.answers.pop(0) if self.answers else 200
        if status < 300:
            self.events.append(await request.json())
            self._arrived.set()
        return web.Response(status=status)

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0
    ) -> dict[str, Any]:
        """The first recorded event matching ``predicate``, waiting for it if need be."""
        async with asyncio.timeout(timeout):
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                self._arrived.clear()
                await self._arrived.wait()

    def of_kind(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == event]
