"""Injected failures: make the next N matching calls answer an error status, or answer late.

Tests use them to drive the client's error paths (429 then success, 503, timeouts) against
the real sandbox rather than a mock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from ._problems import problem

__all__ = ["Fault", "FaultTable"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Fault:
    """``count`` calls whose path starts with ``path`` (and method matches, if given) get
    ``status`` (or, with ``status`` 0, their normal answer) after ``delay`` seconds."""

    path: str
    status: int = 503
    count: int = 1
    method: str | None = None
    delay: float = 0.0
    retry_after: float | None = None

    def matches(self, request: web.Request) -> bool:
        if self.method and request.method != self.method.upper():
            return False
        return request.path.startswith(self.path)


class FaultTable:
    """The pending faults, consumed in the order they were added."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self.triggered = 0

    def add(self, fault: Fault) -> None:
        if fault.count < 1:
            raise ValueError("a fault needs count >= 1")
        self._faults.append(fault)

    def clear(self) -> None:
        self._faults.clear()

    def pending(self) -> list[Fault]:
        return list(self._faults)

    def take(self, request: web.Request) -> Fault | None:
        for fault in self._faults:
            if fault.matches(request):
                fault.count -= 1
                if fault.count == 0:
                    self._faults.remove(fault)
                self.triggered += 1
                return fault
        return None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/sandbox"):
            return await handler(request)
        fault = self.take(request)
        if fault is None:
            return await handler(request)
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if not fault.status:
            return await handler(request)
        headers = (
            {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else None
        )
        return problem(fault.status, "Injected fault", "injected by the sandbox", headers=headers)
