"""The sandbox's clock: real time plus an offset that tests and ``botkit chat`` advance."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Clock", "iso"]


class Clock:
    """Seconds since the epoch, movable forward so expiries can be reached without waiting."""

    def __init__(self, source: Callable[[], float] = time.time) -> None:
        self._source = source
        self._offset = 0.0

    def now(self) -> float:
        return self._source() + self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        self._offset += seconds


def iso(timestamp: float) -> str:
    """An ISO 8601 UTC timestamp with milliseconds, as tyntec writes them."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
