"""The webhook server: tyntec's notifications in, conversations run, replies out.

What is exported here is imported on first use: the sending process
(:mod:`.send_worker`) lives in this package and should not load the whole server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import DEFAULT_MAX_BODY, BotServer, Sending
    from .routing import Router, RoutingError
    from .site import BotSite

__all__ = ["DEFAULT_MAX_BODY", "BotServer", "BotSite", "Router", "RoutingError", "Sending"]

_ON_FIRST_USE = {
    "DEFAULT_MAX_BODY": ".app",
    "BotServer": ".app",
    "BotSite": ".site",
    "Sending": ".app",
    "Router": ".routing",
    "RoutingError": ".routing",
}


def __getattr__(name: str) -> Any:
    if name in _ON_FIRST_USE:
        return getattr(importlib.import_module(_ON_FIRST_USE[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
