"""The SQLite store: one database file, WAL journal, every write a committed transaction.

One connection serves the process; an asyncio lock gives each transaction the connection to
itself, so the statements of two coroutines never mix. Run one server process per database
file (SQLite allows one writer at a time; a second process would wait, not corrupt, but the
per-conversation ordering is kept within a process).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import aiosqlite

from ..flow import Conversation
from ..flow.outgoing import describe
from ._schema import MIGRATIONS
from .base import (
    ConversationKey,
    HistoryEntry,
    InboxEvent,
    NewEvent,
    OutboxMessage,
    Store,
    StoreStats,
)

__all__ = ["Durability", "SQLiteStore", "StaleConversation", "backup"]

Durability = Literal["full", "normal"]


class StaleConversation(Exception):
    """The conversation changed in the database since it was loaded (another process)."""


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class SQLiteStore(Store):
    """Conversations, inbox and outbox in one SQLite file.

    ``durability="full"`` (``PRAGMA synchronous=FULL``, the default) makes every commit
    survive a power loss; ``"normal"`` survives a crash of the process (kill -9) but may lose
    the last commits on power loss, for more throughput. See docs/deploy.md.
    """

    def __init__(self, path: str | Path, *, durability: Durability = "full") -> None:
        self.path = Path(path)
        self.durability = durability
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = await aiosqlite.connect(self.path, isolation_level=None)
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.execute(f"PRAGMA synchronous={self.durability.upper()}")
        await self._db.execute("PRAGMA foreign_keys=ON")
        await self._db.execute("PRAGMA busy_timeout=5000")
        await self._migrate()

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def _migrate(self) -> None:
        async with self._transaction() as db:
            await db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            row = await (await db.execute("SELECT value FROM meta WHERE key='schema'")).fetchone()
            version = int(row[0]) if row else 0
            if version > len(MIGRATIONS):
                raise RuntimeError(
                    f"{self.path} has schema {version}, newer than this botkit knows "
                    f"({len(MIGRATIONS)}); upgrade botkit"
                )
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in filter(str.strip, script.split(";")):
                    await db.execute(statement)
                await db.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(number),),
                )

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        if self._db is None:
            raise RuntimeError("the store is not open")
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[aiosqlite.Connection]:
        if self._db is None:
            raise RuntimeError("the store is not open")
        async with self._lock:
            yield self._db

    # -- inbox -------------------------------------------------------------------------

    async def accept(self, events: list[NewEvent], *, now: float) -> list[bool]:
        accepted = []
        async with self._transaction() as db:
            for event in events:
                routed = event.flow is not None and event.user is not None
                cursor = await db.execute(
                    "INSERT INTO inbox (dedupe_key, kind, flow, user, payload, received_at, "
                    "processed_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (dedupe_key) DO NOTHING",
                    (
                        event.dedupe_key,
                        event.kind,
                        event.flow,
                        event.user,
                        _dumps(event.payload),
                        now,
                        None if routed else now,
                    ),
                )
                accepted.append(cursor.rowcount == 1)
        return accepted

    async def pending_conversations(self) -> list[ConversationKey]:
        async with self._read() as db:
            rows = await db.execute_fetchall(
                "SELECT flow, user, MIN(id) AS first FROM inbox WHERE processed_at IS NULL "
                "GROUP BY flow, user ORDER BY first"
            )
        return [(row[0], row[1]) for row in rows]

    async def next_event(self, key: ConversationKey) -> InboxEvent | None:
        async with self._read() as db:
            cursor = await db.execute(
                "SELECT id, kind, flow, user, payload, received_at, attempts FROM inbox "
                "WHERE flow = ? AND user = ? AND processed_at IS NULL ORDER BY id LIMIT 1",
                key,
            )
            row = await cursor.fetchone()
        if row is None:
            return None
        return InboxEvent(row[0], row[1], row[2], row[3], json.loads(row[4]), row[5], row[6])

    async def postpone_event(self, event_id: int, error: str, *, now: float) -> None:
        async with self._transaction() as db:
            await db.execute(
                "UPDATE inbox SET attempts = attempts + 1, error = ? WHERE id = ?",
                (error, event_id),
            )

    # -- conversations -----------------------------------------------------------------

    async def load(self, key: ConversationKey) -> Conversation | None:
        async with self._read() as db:
            cursor = await db.execute(
                "SELECT data FROM conversations WHERE flow = ? AND user = ?", key
            )
            row = await cursor.fetchone()
        return Conversation.from_dict(json.loads(row[0])) if row else None

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
    ) -> list[int]:
        ids: list[int] = []
        async with self._transaction() as db:
            if story:
                cursor = await db.execute("SELECT flow, user FROM inbox WHERE id = ?", (event_id,))
                row = await cursor.fetchone()
                for kind, text in story if row is not None else []:
                    assert row is not None
                    await db.execute(
                        "INSERT INTO history (flow, user, at, kind, text) VALUES (?, ?, ?, ?, ?)",
                        (row[0], row[1], now, kind, text),
                    )
            if conversation is not None:
                await self._save(db, conversation, expected_version, now)
                for request in outbox:
                    cursor = await db.execute(
                        "INSERT INTO outbox (flow, user, event_id, request, next_attempt_at, "
                        "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            conversation.flow,
                            conversation.user,
                            event_id,
                            _dumps(request),
                            now,
                            now,
                            now,
                        ),
                    )
                    assert cursor.lastrowid is not None
                    ids.append(cursor.lastrowid)
                    await db.execute(
                        "INSERT INTO history (flow, user, at, kind, text, outbox_id) "
                        "VALUES (?, ?, ?, 'sent', ?, ?)",
                        (conversation.flow, conversation.user, now, describe(request),
                         cursor.lastrowid),
                    )  # fmt: skip
            await db.execute(
                "UPDATE inbox SET processed_at = ?, error = ?, attempts = attempts + 1 "
                "WHERE id = ?",
                (now, error, event_id),
            )
        return ids

    async def _save(
        self,
        db: aiosqlite.Connection,
        conversation: Conversation,
        expected_version: int | None,
        now: float,
    ) -> None:
        values = (
            conversation.state,
            int(conversation.ended),
            conversation.version,
            conversation.timeout_at,
            _dumps(conversation.to_dict()),
            now,
            conversation.flow,
            conversation.user,
        )
        if expected_version is None:
            await db.execute(
                "INSERT INTO conversations (state, ended, version, timeout_at, data, updated_at, "
                "flow, user) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
            return
        cursor = await db.execute(
            "UPDATE conversations SET state = ?, ended = ?, version = ?, timeout_at = ?, "
            "data = ?, updated_at = ? WHERE flow = ? AND user = ? AND version = ?",
            (*values, expected_version),
        )
        if cursor.rowcount != 1:
            raise StaleConversation(
                f"conversation {conversation.flow}/{conversation.user} changed since it was "
                "loaded; is a second server using this database?"
            )

    async def conversations(
        self, *, flow: str | None = None, user: str | None = None
    ) -> list[Conversation]:
        query = "SELECT data FROM conversations WHERE 1=1"
        arguments: list[Any] = []
        if flow is not None:
            query += " AND flow = ?"
            arguments.append(flow)
        if user is not None:
            query += " AND user = ?"
            arguments.append(user.lstrip("+"))
        async with self._read() as db:
            rows = await db.execute_fetchall(query + " ORDER BY updated_at DESC", arguments)
        return [Conversation.from_dict(json.loads(row[0])) for row in rows]

    async def reset(self, key: ConversationKey) -> bool:
        async with self._transaction() as db:
            cursor = await db.execute("DELETE FROM conversations WHERE flow = ? AND user = ?", key)
            await db.execute(
                "UPDATE inbox SET processed_at = ?, error = 'reset' "
                "WHERE flow = ? AND user = ? AND processed_at IS NULL",
                (time.time(), *key),
            )
            return cursor.rowcount == 1

    # -- timers --------------------------------------------------------------------------

    async def due_timeouts(self, now: float) -> list[tuple[ConversationKey, float]]:
        async with self._read() as db:
            rows = await db.execute_fetchall(
                "SELECT flow, user, timeout_at FROM conversations "
                "WHERE timeout_at IS NOT NULL AND timeout_at <= ? ORDER BY timeout_at",
                (now,),
            )
        return [((row[0], row[1]), row[2]) for row in rows]

    async def next_deadline(self) -> float | None:
        async with self._read() as db:
            cursor = await db.execute("SELECT MIN(timeout_at) FROM conversations")
            row = await cursor.fetchone()
        return row[0] if row and row[0] is not None else None

    # -- outbox --------------------------------------------------------------------------

    async def outbox_conversations(self, now: float) -> list[ConversationKey]:
        async with self._read() as db:
            rows = await db.execute_fetchall(
                "SELECT flow, user, MIN(id) AS first FROM outbox WHERE status = 'pending' "
                "GROUP BY flow, user HAVING MIN(next_attempt_at) <= ? ORDER BY first",
                (now,),
            )
        return [(row[0], row[1]) for row in rows]

    async def next_outbox(self, key: ConversationKey) -> OutboxMessage | None:
        async with self._read() as db:
            cursor = await db.execute(
                f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE flow = ? AND user = ? "
                "AND status = 'pending' ORDER BY id LIMIT 1",
                key,
            )
            row = await cursor.fetchone()
        return _outbox_message(row) if row else None

    async def mark_sent(self, outbox_id: int, message_id: str, *, now: float) -> None:
        async with self._transaction() as db:
            await db.execute(
                "UPDATE outbox SET status = 'sent', message_id = ?, sent_at = ?, updated_at = ?, "
                "attempts = attempts + 1, last_error = NULL WHERE id = ?",
                (message_id, now, now, outbox_id),
            )

    async def mark_retry(self, outbox_id: int, error: str, *, retry_at: float) -> None:
        async with self._transaction() as db:
            await db.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?, "
                "updated_at = ? WHERE id = ?",
                (retry_at, error, time.time(), outbox_id),
            )

    async def mark_failed(self, outbox_id: int, error: str, *, now: float) -> None:
        async with self._transaction() as db:
            await db.execute(
                "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ?, "
                "updated_at = ? WHERE id = ?",
                (error, now, outbox_id),
            )

    async def record_delivery(self, message_id: str, status: str, *, now: float) -> bool:
        async with self._transaction() as db:
            # Keep every status in order ("delivered, seen"), each once.
            cursor = await db.execute(
                "UPDATE outbox SET delivery = CASE "
                "WHEN delivery IS NULL THEN ?1 "
                "WHEN ', ' || delivery || ', ' LIKE '%, ' || ?1 || ', %' THEN delivery "
                "ELSE delivery || ', ' || ?1 END, updated_at = ?2 WHERE message_id = ?3",
                (status, now, message_id),
            )
            return cursor.rowcount > 0

    async def outbox(self, key: ConversationKey) -> list[OutboxMessage]:
        async with self._read() as db:
            rows = await db.execute_fetchall(
                f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE flow = ? AND user = ? ORDER BY id",
                key,
            )
        return [_outbox_message(row) for row in rows]

    async def history(self, key: ConversationKey) -> list[HistoryEntry]:
        async with self._read() as db:
            rows = await db.execute_fetchall(
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
        async with self._transaction() as db:
            removed = 0
            for statement in (
                "DELETE FROM history WHERE at < ?",
                "DELETE FROM inbox WHERE processed_at IS NOT NULL AND processed_at < ?",
                "DELETE FROM outbox WHERE status != 'pending' AND updated_at < ?",
            ):
                cursor = await db.execute(statement, (before,))
                removed += cursor.rowcount
        return removed

    async def stats(self) -> StoreStats:
        async with self._read() as db:
            counts = []
            for query in (
                "SELECT COUNT(*) FROM conversations",
                "SELECT COUNT(*) FROM conversations WHERE ended = 0 AND state IS NOT NULL",
                "SELECT COUNT(*) FROM inbox WHERE processed_at IS NULL",
                "SELECT COUNT(*) FROM outbox WHERE status = 'pending'",
            ):
                cursor = await db.execute(query)
                row = await cursor.fetchone()
                counts.append(int(row[0]) if row else 0)
        return StoreStats(*counts)

    async def inbox_events(self, key: ConversationKey) -> list[dict[str, Any]]:
        """Every event of a conversation with what became of it (for ``botkit conversations``)."""
        async with self._read() as db:
            rows = await db.execute_fetchall(
                "SELECT id, kind, payload, received_at, processed_at, error FROM inbox "
                "WHERE flow = ? AND user = ? ORDER BY id",
                key,
            )
        return [
            {
                "id": row[0],
                "kind": row[1],
                "payload": json.loads(row[2]),
                "received_at": row[3],
                "processed_at": row[4],
                "error": row[5],
            }
            for row in rows
        ]


_OUTBOX_COLUMNS = (
    "id, flow, user, request, status, attempts, next_attempt_at, message_id, created_at, delivery"
)


def _outbox_message(row: Iterable[Any]) -> OutboxMessage:
    values = list(row)
    return OutboxMessage(
        id=values[0],
        flow=values[1],
        user=values[2],
        request=json.loads(values[3]),
        status=values[4],
        delivery=values[9],
        attempts=values[5],
        next_attempt_at=values[6],
        message_id=values[7],
        created_at=values[8],
    )


async def backup(source: str | Path, target: str | Path) -> None:
    """Copy a live database consistently (SQLite's online backup), WAL contents included."""
    target = Path(target)
    if target.exists():
        raise FileExistsError(f"{target} exists; choose a new file for the backup")
    async with aiosqlite.connect(source) as db, aiosqlite.connect(target) as copy:
        await db.backup(copy)
