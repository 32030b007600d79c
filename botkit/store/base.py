"""The storage interface of the server: conversations, the inbox, the outbox, timers.

Everything the server must not lose lives behind this interface, and every method returns
only once what it wrote is durable. The SQLite implementation is the one that ships; the
interface keeps to what a PostgreSQL one would also do (one transaction per turn, row-level
uniqueness for de-duplication, no in-memory truth).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the flow engine is not loaded for these records (see __init__)
    from ..flow import Conversation

__all__ = [
    "ConversationKey",
    "HistoryEntry",
    "InboxEvent",
    "NewEvent",
    "OutboxMessage",
    "StaleConversation",
    "Store",
    "StoreStats",
    "UnreadableConversation",
    "UnstorableEvent",
]

ConversationKey = tuple[str, str]
"""``(flow, user)``: who a conversation is with, in which flow."""


class StaleConversation(Exception):
    """The conversation changed in the database since it was loaded, by another process
    (``botkit conversations reset`` on a live server, say): the turn built on it was not
    written. Load it again and run the event anew."""


class UnstorableEvent(ValueError):
    """An event whose payload cannot be stored as JSON (it nests deeper than the encoder
    goes): the sender's mistake, answered 400, and nothing was written. Sending it again
    cannot help."""


class UnreadableConversation(Exception):
    """A stored conversation cannot be read back: its row was edited by hand, cut short by
    a restore, or written by a botkit that stored it differently. Waiting will not mend it,
    and starting anew would forget where the user was without anyone deciding so: the
    message says how an operator starts it anew."""

    def __init__(self, key: ConversationKey, reason: str) -> None:
        flow, user = key
        super().__init__(
            f"the stored conversation of {user} with flow {flow!r} cannot be read ({reason}); "
            f"`botkit conversations reset +{user} --flow {flow}` starts it anew"
        )
        self.key = key
        self.reason = reason


#: How the dedupe key of a refused message's event starts (see ``refusal_key``).
REFUSAL_KEY_PREFIX = "refused:"


def refusal_key(key: ConversationKey, entry: int) -> str:
    """The dedupe key of the event of a message refused in state entry ``entry``: one per
    entry. A reset forgets these keys, since the entries of the new conversation count
    from 1 again."""
    return f"{REFUSAL_KEY_PREFIX}{key[0]}:{key[1]}:{entry}"


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to accept into the inbox.

    ``dedupe_key`` identifies it across tyntec's retries (kind and messageId); ``flow`` and
    ``user`` say which conversation handles it, None for events that are only recorded.
    """

    dedupe_key: str
    kind: str
    payload: dict[str, Any]
    flow: str | None = None
    user: str | None = None
    parsed: Any = field(default=None, compare=False, repr=False)
    """The payload already read into its model, kept in memory only (saves a second read)."""


@dataclass(frozen=True, slots=True)
class InboxEvent:
    """An accepted event waiting for (or done with) processing."""

    id: int
    kind: str
    flow: str
    user: str
    payload: dict[str, Any]
    received_at: float
    attempts: int
    parsed: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A message to send (or sent): the request, and what tyntec said of it.

    ``status`` is the sending state: ``pending``, ``sent`` (tyntec accepted it) or ``failed``
    (tyntec refused it for good).
    """

    id: int
    flow: str
    user: str
    request: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: float
    message_id: str | None
    created_at: float
    delivery: str | None = None
    """The last delivery status tyntec reported: delivered, seen, failed ..."""


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One line of a conversation's story.

    ``kind`` is ``event`` (what arrived), ``move`` (a state change), ``sent`` (a message,
    with ``status``: its sending and delivery states) or ``error``.
    """

    at: float
    kind: str
    text: str
    status: str | None = None


@dataclass(frozen=True, slots=True)
class StoreStats:
    conversations: int
    active_conversations: int
    inbox_pending: int
    outbox_pending: int


class DatabaseUnusable(Exception):
    """The database cannot be opened as botkit's: not a SQLite file, a folder this user may
    not write to, a schema newer than this botkit's. The message says which, and what to do."""


@dataclass(frozen=True, slots=True)
class StoreFailure:
    """Why the store cannot write now: the database's own error (a full disk, an I/O
    error), and when (a Unix time) the writes began to fail."""

    reason: str
    since: float


class Store(abc.ABC):
    """Where the server keeps everything; see :class:`~botkit.store.SQLiteStore`."""

    @property
    def failure(self) -> StoreFailure | None:
        """Set while writes fail for a reason of the database rather than of one write (a
        full disk, not a conflict); None once one commits again."""
        return None

    def database_trouble(self, error: Exception) -> bool:
        """Whether ``error`` is the database's own trouble (a full disk, an I/O error, a
        damaged file), which time or an operator mends, rather than one write's (a
        constraint, a value it cannot take), which comes back on every try."""
        return False

    @abc.abstractmethod
    async def try_write(self) -> None:
        """Commit a write of no consequence, to learn whether the database takes writes
        again (:attr:`failure` follows); raises what it failed with."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect, and create or migrate the schema."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    # -- inbox -------------------------------------------------------------------------

    @abc.abstractmethod
    async def accept(self, events: list[NewEvent], *, now: float) -> list[InboxEvent | None]:
        """Store events durably; for each, the stored event if new, None if it duplicates one
        already accepted. Events without a conversation are recorded as already processed
        (and returned as None: there is nothing to process)."""

    @abc.abstractmethod
    async def pending_events(self) -> list[InboxEvent]:
        """Every accepted event not processed yet, in arrival order (for a restart)."""

    @abc.abstractmethod
    async def postpone_event(self, event_id: int, error: str, *, now: float) -> None:
        """A transient failure: count the attempt, keep the event unprocessed."""

    @abc.abstractmethod
    async def finished_with_error(self, dedupe_key: str) -> str | None:
        """The error the event accepted under ``dedupe_key`` was finished with; None if no
        such event was accepted, or it is not processed yet, or it went well."""

    # -- conversations -----------------------------------------------------------------

    @abc.abstractmethod
    async def load(self, key: ConversationKey) -> Conversation | None:
        """The stored conversation, None if there is none; raises
        :class:`UnreadableConversation` when its row cannot be read back."""

    @abc.abstractmethod
    async def finish_turn(
        self,
        event_id: int,
        conversation: Conversation | None,
        outbox: list[dict[str, Any]],
        *,
        now: float,
        error: str | None = None,
        expected_version: int | None = None,
        story: list[tuple[str, str]] | None = None,
        key: ConversationKey | None = None,
        on_commit: Callable[[list[OutboxMessage]], None] | None = None,
    ) -> list[OutboxMessage]:
        """In one transaction: save the conversation (unless None), queue the outbox, mark the
        event processed (with ``error`` if it failed), and add ``story`` (``(kind, text)``
        lines) and the messages queued to the conversation's history. Returns the messages
        queued.

        ``on_commit`` is given the messages queued as soon as the commit is known, before
        the caller resumes (a sender takes them a loop turn or two earlier). It must not
        block; what it raises is logged.

        ``expected_version`` is the version the conversation was loaded at (None: it was
        not stored). When the stored one differs, another process changed it: nothing is
        written, and :class:`StaleConversation` is raised.
        """

    @abc.abstractmethod
    async def accept_turn(
        self,
        event: NewEvent,
        conversation: Conversation,
        outbox: list[dict[str, Any]],
        *,
        now: float,
        expected_version: int | None,
        story: list[tuple[str, str]],
        on_commit: Callable[[list[OutboxMessage]], None] | None = None,
    ) -> tuple[InboxEvent | None, list[OutboxMessage]]:
        """Accept ``event`` and store the turn it made, in one transaction: the event
        stored as processed, then as :meth:`finish_turn` does (``on_commit`` too). When the
        event duplicates one accepted before, nothing of the turn is written: ``(None, [])``.
        Otherwise the event as stored and the messages queued.

        Raises :class:`StaleConversation` as :meth:`finish_turn` does, with nothing
        written (the event not accepted either)."""

    @abc.abstractmethod
    async def conversations(
        self, *, flow: str | None = None, user: str | None = None
    ) -> list[Conversation]:
        """The stored conversations, most recently changed first; one that cannot be read
        back is left out, with a warning that says how to start it anew."""

    @abc.abstractmethod
    async def conversation_keys(
        self, *, flow: str | None = None, user: str | None = None
    ) -> list[ConversationKey]:
        """Who has a stored conversation, in which flow, read or not (for a reset)."""

    @abc.abstractmethod
    async def clear_deadline(self, key: ConversationKey) -> None:
        """Forget the conversation's pending timeout without reading it (its timer would
        fire for ever when it cannot be read)."""

    @abc.abstractmethod
    async def reset(self, key: ConversationKey) -> bool:
        """Forget a conversation; the user's next message starts anew. True if it existed."""

    # -- timers --------------------------------------------------------------------------

    @abc.abstractmethod
    async def due_timeouts(self, now: float) -> list[tuple[ConversationKey, float]]:
        """Conversations whose deadline has passed, with the deadline."""

    @abc.abstractmethod
    async def next_deadline(self) -> float | None: ...

    # -- outbox --------------------------------------------------------------------------

    @abc.abstractmethod
    async def pending_outbox(self) -> list[OutboxMessage]:
        """Every message not sent yet, oldest first (for a restart)."""

    @abc.abstractmethod
    async def mark_sent(self, outbox_id: int, message_id: str, *, now: float) -> None: ...

    @abc.abstractmethod
    async def mark_retry(
        self, outbox_id: int, error: str, *, retry_at: float, now: float
    ) -> None: ...

    @abc.abstractmethod
    async def mark_failed(self, outbox_id: int, error: str, *, now: float) -> None: ...

    @abc.abstractmethod
    async def record_delivery(self, message_id: str, status: str, *, now: float) -> bool:
        """Note a delivery status of a sent message; True if the message is ours."""

    @abc.abstractmethod
    async def outbox(self, key: ConversationKey) -> list[OutboxMessage]:
        """Every message of a conversation, oldest first."""

    @abc.abstractmethod
    async def history(self, key: ConversationKey) -> list[HistoryEntry]:
        """The conversation's story, oldest first, messages with their delivery states."""

    @abc.abstractmethod
    async def prune(self, before: float) -> int:
        """Delete history, processed events and finished messages older than ``before``;
        how many rows went."""

    @abc.abstractmethod
    async def stats(self) -> StoreStats: ...
