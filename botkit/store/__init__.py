"""Where the server keeps conversations, inbound events and outbound messages."""

from .base import (
    ConversationKey,
    HistoryEntry,
    InboxEvent,
    NewEvent,
    OutboxMessage,
    Store,
    StoreStats,
)
from .sqlite import Durability, SQLiteStore, StaleConversation

__all__ = [
    "ConversationKey",
    "Durability",
    "HistoryEntry",
    "InboxEvent",
    "NewEvent",
    "OutboxMessage",
    "SQLiteStore",
    "StaleConversation",
    "Store",
    "StoreStats",
]
