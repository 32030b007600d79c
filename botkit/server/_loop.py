"""The event loop botkit runs on, in the server and in its sending process."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

__all__ = ["event_loop_factory"]


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed (``pip install botkit[speed]``), else
    asyncio's own. ``BOTKIT_EVENT_LOOP=asyncio`` keeps asyncio's."""
    if os.environ.get("BOTKIT_EVENT_LOOP", "").lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory
