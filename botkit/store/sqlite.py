"""The SQLite store: one database file, WAL journal, every write a committed transaction.

Writes go through one connection and a group-commit writer (:mod:`._writes`) in a thread
of its own: what queues while a commit runs goes into the next one, so many events share a
transaction and its sync to disk. Reads use a second connection (aiosqlite), which WAL lets
read committed data while the writer works. Hot conversations are cached in memory,
bounded; the database stays the truth (the cache is filled from it and updated only after a
commit). Run one server process per database file (``botkit serve`` makes sure of it: see
:mod:`botkit.server._db_lock`).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

import aiosqlite

from .._json import loads
from ..flow import Conversation
from ._schema import MIGRATIONS
from ._writes import Write, Writer
from .base import (
    REFUSAL_KEY_PREFIX,
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
)

__all__ = ["Durability", "SQLiteStore", "StaleConversation", "backup"]

log = logging.getLogger("botkit.store")

Durability = Literal["full", "normal"]


class SQLiteStore(Store):
    """Conversations, inbox and outbox in one SQLite file.

    ``durability="full"`` (``PRAGMA synchronous=FULL``, the default) makes every commit
    survive a power loss; ``"normal"`` survives a crash of the process (kill -9) but may lose
    the last commits on power loss, for more throughput. See docs/deploy.md.
    ``cache_size`` bounds how many conversations are kept in memory.
    """

    def __init__(
        self, path: str | Path, *, durability: Durability = "full", cache_size: int = 10_000
    ) -> None:
        self.path = Path(path)
        self.durability = durability
        self.cache_size = cache_size
        self._reader: aiosqlite.Connection | None = None
        self._writer: Writer | None = None
        self._cache: OrderedDict[ConversationKey, Conversation] = OrderedDict()

    async def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:  # a file where the folder should be, say
            raise DatabaseUnusable(
                f"cannot open the database {self.path}: cannot make its folder"
                f" {self.path.parent}: {error.strerror or error}"
            ) from None
        writer = Writer(self._connect_writer)
        try:
            await writer.start()  # creates or migrates the schema first
        except sqlite3.DatabaseError as error:
            raise DatabaseUnusable(_unusable(self.path, error)) from None
        self._writer = writer
        self._reader = await aiosqlite.connect(self.path, isolation_level=None)
        await self._reader.execute("PRAGMA busy_timeout=5000")

    @property
    def failure(self) -> StoreFailure | None:
        return self._writer.failure if self._writer is not None else None

    async def try_write(self) -> None:
        def touch(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO meta (key, value) VALUES ('written', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(time.time()),),
            )

        await self.writer.exclusive(touch)

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer.stop()
            self._writer = None
        if self._reader is not None:
            await self._reader.close()
        self._reader = None
        self._cache.clear()

    def _connect_writer(self) -> sqlite3.Connection:
        """The writing connection (opened in the writer's thread, which alone uses it)."""
        # Room for a statement of every size (1 to 64 rows) of every kind of row, see _rows.
        db = sqlite3.connect(self.path, isolation_level=None, cached_statements=1024)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self.durability.upper()}")
        db.execute("PRAGMA busy_timeout=5000")
        try:
            self._migrate(db)
        except BaseException:
            db.close()
            raise
        return db

    def _migrate(self, db: sqlite3.Connection) -> None:
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            rows = db.execute("SELECT value FROM meta WHERE key='schema'").fetchall()
            version = int(rows[0][0]) if rows else 0
            if version > len(MIGRATIONS):
                raise DatabaseUnusable(
                    f"cannot open the database {self.path}: it has schema {version}, newer"
                    f" than this botkit knows ({len(MIGRATIONS)}); upgrade botkit"
                )
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in filter(str.strip, script.split(";")):
                    db.execute(statement)
                db.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(number),),
                )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def database_trouble(self, error: Exception) -> bool:
        return type(error) is sqlite3.DatabaseError or isinstance(
            error, sqlite3.OperationalError | sqlite3.InternalError
        )

    @property
    def writer(self) -> Writer:
        if self._writer is None:
            raise RuntimeError("the store is not open")
        return self._writer

    @property
    def reader(self) -> aiosqlite.Connection:
        if self._reader is None:
            raise RuntimeError("the store is not open")
        return self._reader

    async def _rows(self, sql: str, arguments: Iterable[Any] = ()) -> list[Any]:
        return list(await self.reader.execute_fetchall(sql, tuple(arguments)))

    # -- inbox -------------------------------------------------------------------------

    async def accept(self, events: list[NewEvent], *, now: float) -> list[InboxEvent | None]:
        return (await self.writer.submit(Write(now=now, events=list(events)))).accepted

    async def pending_events(self) -> list[InboxEvent]:
        rows = await self._rows(
            "SELECT id, kind, flow, user, payload, received_at, attempts FROM inbox "
            "WHERE processed_at IS NULL ORDER BY id"
        )
        return [InboxEvent(r[0], r[1], r[2], r[3], loads(r[4]), r[5], r[6]) for r in rows]

    async def postpone_event(self, event_id: int, error: str, *, now: float) -> None:
        await self.writer.submit(Write(now=now, postponed=(event_id, error)))

    async def finished_with_error(self, dedupe_key: str) -> str | None:
        rows = await self._rows(
            "SELECT error FROM inbox WHERE dedupe_key = ? AND processed_at IS NOT NULL",
            (dedupe_key,),
        )
        return str(rows[0][0]) if rows and rows[0][0] is not None else None

    # -- conversations -----------------------------------------------------------------

    async def load(self, key: ConversationKey) -> Conversation | None:
        """The stored conversation (the cached object: callers do not change it)."""
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        rows = await self._rows("SELECT data FROM conversations WHERE flow = ? AND user = ?", key)
        if not rows:
            return None
        conversation = _read_conversation(key, rows[0][0])
        self._remember(key, conversation)
        return conversation

    def _remember(self, key: ConversationKey, conversation: Conversation) -> None:
        self._cache[key] = conversation
        self._cache.move_to_end(key)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

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
        if conversation is not None:
            key = (conversation.flow, conversation.user)
        write = Write(
            now=now,
            key=key,
            conversation=conversation,
            expected_version=expected_version,
            outbox=list(outbox),
            event_id=event_id,
            story=list(story or []),
            done=(event_id, error),
            on_commit=_handing(on_commit),
        )
        done = await self._store_turn(write)
        if key is not None and conversation is not None:
            self._remember(key, conversation)
        return done.queued

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
        key = (conversation.flow, conversation.user)
        write = Write(
            now=now,
            events=(event,),
            processes_event=True,
            key=key,
            conversation=conversation,
            expected_version=expected_version,
            outbox=outbox,
            story=story,
            on_commit=_handing(on_commit),
        )
        done = await self._store_turn(write)
        (accepted,) = done.accepted
        if accepted is not None:
            self._remember(key, conversation)
        return accepted, done.queued

    async def _store_turn(self, write: Write) -> Write:
        """Commit a turn's write; a conversation found stale is read anew next time."""
        try:
            return await self.writer.submit(write)
        except StaleConversation:
            if write.key is not None:
                self._cache.pop(write.key, None)
            raise

    async def conversations(
        self, *, flow: str | None = None, user: str | None = None
    ) -> list[Conversation]:
        where, arguments = _conversations_where(flow, user)
        rows = await self._rows(
            f"SELECT flow, user, data FROM conversations{where} ORDER BY updated_at DESC",
            arguments,
        )
        found = []
        for row in rows:
            try:
                found.append(_read_conversation((row[0], row[1]), row[2]))
            except UnreadableConversation as error:  # the others are still worth listing
                log.warning("%s", error)
        return found

    async def conversation_keys(
        self, *, flow: str | None = None, user: str | None = None
    ) -> list[ConversationKey]:
        where, arguments = _conversations_where(flow, user)
        rows = await self._rows(
            f"SELECT flow, user FROM conversations{where} ORDER BY updated_at DESC", arguments
        )
        return [(row[0], row[1]) for row in rows]

    async def clear_deadline(self, key: ConversationKey) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE conversations SET timeout_at = NULL WHERE flow = ? AND user = ?", key
            )

        self._cache.pop(key, None)
        await self.writer.exclusive(work)

    async def reset(self, key: ConversationKey) -> bool:
        def work(db: sqlite3.Connection) -> bool:
            cursor = db.execute("DELETE FROM conversations WHERE flow = ? AND user = ?", key)
            # Its state entries count from 1 again: keys made of them must not be taken for
            # duplicates of the old conversation's.
            db.execute(
                "DELETE FROM inbox WHERE flow = ? AND user = ? AND dedupe_key LIKE ?",
                (*key, f"{REFUSAL_KEY_PREFIX}%"),
            )
            db.execute(
                "UPDATE inbox SET processed_at = ?, error = 'reset' "
                "WHERE flow = ? AND user = ? AND processed_at IS NULL",
                (time.time(), *key),
            )
            return cursor.rowcount == 1

        self._cache.pop(key, None)
        existed = bool(await self.writer.exclusive(work))
        self._cache.pop(key, None)
        return existed

    # -- timers --------------------------------------------------------------------------

    async def due_timeouts(self, now: float) -> list[tuple[ConversationKey, float]]:
        rows = await self._rows(
            "SELECT flow, user, timeout_at FROM conversations "
            "WHERE timeout_at IS NOT NULL AND timeout_at <= ? ORDER BY timeout_at",
            (now,),
        )
        return [((row[0], row[1]), row[2]) for row in rows]

    async def next_deadline(self) -> float | None:
        rows = await self._rows("SELECT MIN(timeout_at) FROM conversations")
        return rows[0][0] if rows and rows[0][0] is not None else None

    # -- outbox --------------------------------------------------------------------------

    async def pending_outbox(self) -> list[OutboxMessage]:
        rows = await self._rows(
            f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE status = 'pending' ORDER BY id"
        )
        return [_outbox_message(row) for row in rows]

    async def mark_sent(self, outbox_id: int, message_id: str, *, now: float) -> None:
        """Recorded with the next commit, without waiting for it: waiting would not make the
        window between tyntec's 202 and the record any shorter, only the sender slower."""
        self.writer.enqueue(Write(now=now, sent=(outbox_id, message_id)))

    async def mark_retry(self, outbox_id: int, error: str, *, retry_at: float, now: float) -> None:
        await self.writer.submit(Write(now=now, retry=(outbox_id, error, retry_at)))

    async def mark_failed(self, outbox_id: int, error: str, *, now: float) -> None:
        await self.writer.submit(Write(now=now, failed=(outbox_id, error)))

    async def record_delivery(self, message_id: str, status: str, *, now: float) -> bool:
        await self.writer.submit(Write(now=now, delivery=(message_id, status)))
        return True

    async def outbox(self, key: ConversationKey) -> list[OutboxMessage]:
        rows = await self._rows(
            f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE flow = ? AND user = ? ORDER BY id", key
        )
        return [_outbox_message(row) for row in rows]

    async def history(self, key: ConversationKey) -> list[HistoryEntry]:
        rows = await self._rows(
            "SELECT h.at, h.kind, h.text, o.status, o.delivery FROM history h "
            "LEFT JOIN outbox o ON o.id = h.outbox_id "
            "WHERE h.flow = ? AND h.user = ? ORDER BY h.id",
            key,
        )
        entries = []
        for at, kind, text, sending, delivery in rows:
            status = delivery or sending if kind == "sent" else None
            entries.append(HistoryEntry(at, kind, text, status))
        return entries

    async def prune(self, before: float) -> int:
        def work(db: sqlite3.Connection) -> int:
            removed = 0
            for statement in (
                "DELETE FROM history WHERE at < ?",
                "DELETE FROM inbox WHERE processed_at IS NOT NULL AND processed_at < ?",
                "DELETE FROM outbox WHERE status != 'pending' AND updated_at < ?",
            ):
                cursor = db.execute(statement, (before,))
                removed += cursor.rowcount
            return removed

        return int(await self.writer.exclusive(work))

    async def stats(self) -> StoreStats:
        counts = []
        for query in (
            "SELECT COUNT(*) FROM conversations",
            "SELECT COUNT(*) FROM conversations WHERE ended = 0 AND state IS NOT NULL",
            "SELECT COUNT(*) FROM inbox WHERE processed_at IS NULL",
            "SELECT COUNT(*) FROM outbox WHERE status = 'pending'",
        ):
            rows = await self._rows(query)
            counts.append(int(rows[0][0]) if rows else 0)
        return StoreStats(*counts)

    async def inbox_events(self, key: ConversationKey) -> list[dict[str, Any]]:
        """Every event of a conversation with what became of it."""
        rows = await self._rows(
            "SELECT id, kind, payload, received_at, processed_at, error FROM inbox "
            "WHERE flow = ? AND user = ? ORDER BY id",
            key,
        )
        return [
            {"id": r[0], "kind": r[1], "payload": loads(r[2]), "received_at": r[3],
             "processed_at": r[4], "error": r[5]}
            for r in rows
        ]  # fmt: skip


def _conversations_where(flow: str | None, user: str | None) -> tuple[str, list[Any]]:
    """The ``WHERE`` clause (with its arguments) of a search by flow and user."""
    conditions, arguments = [], []
    if flow is not None:
        conditions.append("flow = ?")
        arguments.append(flow)
    if user is not None:
        conditions.append("user = ?")
        arguments.append(user.lstrip("+"))
    return (" WHERE " + " AND ".join(conditions) if conditions else ""), arguments


def _read_conversation(key: ConversationKey, text: Any) -> Conversation:
    """The conversation stored in a row's ``data``; :class:`UnreadableConversation` when
    the row does not hold one."""
    try:
        data = loads(text)
    except (ValueError, TypeError) as error:  # the JSON libraries' decode errors
        raise UnreadableConversation(key, f"its data is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise UnreadableConversation(key, f"its data is a JSON {type(data).__name__}")
    for name, kind in (("vars", dict), ("last_inbound", dict), ("version", int)):
        if name in data and not isinstance(data[name], kind):
            raise UnreadableConversation(key, f"its {name!r} is not a JSON {kind.__name__}")
    try:
        return Conversation.from_dict({**data, "flow": key[0], "user": key[1]})
    except TypeError as error:
        raise UnreadableConversation(key, str(error)) from None


_OUTBOX_COLUMNS = (
    "id, flow, user, request, status, attempts, next_attempt_at, message_id, created_at, delivery"
)


def _outbox_message(row: Iterable[Any]) -> OutboxMessage:
    values = list(row)
    return OutboxMessage(
        id=values[0],
        flow=values[1],
        user=values[2],
        request=loads(values[3]),
        status=values[4],
        attempts=values[5],
        next_attempt_at=values[6],
        message_id=values[7],
        created_at=values[8],
        delivery=values[9],
    )


async def backup(source: str | Path, target: str | Path) -> None:
    """Copy a live database consistently (SQLite's online backup), WAL contents included."""
    target = Path(target)
    if target.exists():
        raise FileExistsError(f"{target} exists; choose a new file for the backup")
    async with aiosqlite.connect(source) as db, aiosqlite.connect(target) as copy:
        await db.backup(copy)


def _handing(
    on_commit: Callable[[list[OutboxMessage]], None] | None,
) -> Callable[[Write], None] | None:
    """A write's commit hook that hands its queued messages on (none for a duplicate)."""
    if on_commit is None:
        return None
    return lambda write: on_commit(write.queued) if write.queued else None


def _unusable(path: Path, error: sqlite3.DatabaseError) -> str:
    reason = str(error)
    if path.is_dir():
        hint = "it is a folder: --db names the database's file, say bot.db"
    elif "not a database" in reason:
        hint = "it is not a SQLite database: does --db name another kind of file?"
    elif "unable to open" in reason:
        hint = "may this user create and write files in its folder?"
    elif "readonly" in reason or "read-only" in reason:
        hint = "may this user write to it, and to its folder?"
    else:
        hint = "is it a botkit database, whole and writable?"
    return f"cannot open the database {path}: {reason}; {hint}"
