"""Where the server keeps conversations, inbound events and outbound messages.

The SQLite store is imported on first use: it loads the flow engine (and with it Jinja,
transitions and YAML), which the sending process, needing only the records, does without.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .base import (
    ConversationKey,
    DatabaseUnusable,
    HistoryEntry,
    InboxEvent,
    NewEvent,
    OutboxMessage,
    StaleConversation,
    Store,
    StoreFailure,
    StoreStats,
    UnreadableConversation,
    UnstorableEvent,
)

if TYPE_CHECKING:
    from .sqlite import Durability, SQLiteStore

__all__ = [
    "ConversationKey",
    "DatabaseUnusable",
    "Durability",
    "HistoryEntry",
    "InboxEvent",
    "NewEvent",
    "OutboxMessage",
    "SQLiteStore",
    "StaleConversation",
    "Store",
    "StoreFailure",
    "StoreStats",
    "UnreadableConversation",
    "UnstorableEvent",
]

_ON_FIRST_USE = {"Durability": ".sqlite", "SQLiteStore": ".sqlite"}


def __getattr__(name: str) -> Any:
    if name in _ON_FIRST_USE:
        return getattr(importlib.import_module(_ON_FIRST_USE[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
