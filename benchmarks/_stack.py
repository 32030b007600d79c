"""What every process of the benchmark runs on: uvloop's event loop and orjson when they are
installed (as `botkit serve` does), and a garbage collector set as botkit sets it.

The floor and the load generator use the same stack as botkit, so that the comparison is of
the work each subject does, not of the libraries under it. The load generator shares the
machine's two cores with the subject it measures: the less it costs, the more the figures
are the subject's (on asyncio's own loop it took most of a core and held the floor back).
"""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Callable, Coroutine
from typing import Any

try:
    import orjson
except ImportError:  # pragma: no cover - the speed extra is not installed
    orjson = None

__all__ = ["dumps", "event_loop_factory", "loads", "run", "settle_collector"]


def loads(data: bytes | str) -> Any:
    return orjson.loads(data) if orjson is not None else json.loads(data)


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode() if orjson is not None else json.dumps(value)


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - the speed extra is not installed
        return asyncio.new_event_loop
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def settle_collector() -> None:
    """As botkit's processes do once started (botkit/server/_collector.py): what is loaded
    leaves the collector's sight, and its young generation is 10,000 allocations."""
    gc.freeze()
    gc.set_threshold(10_000, *gc.get_threshold()[1:])


def run(main: Coroutine[Any, Any, int]) -> int:
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        return runner.run(main)
