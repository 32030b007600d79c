"""Group commit: every write of the store is queued, and one task commits all writes that
queued while the previous commit ran, in one transaction, each kind of row with one
``executemany``. Under load a commit carries many events; alone, an event commits at once.

A write that fails (a conversation changed by another process, a constraint) must not take
the others of its batch with it: the batch is rolled back and its writes are committed one
by one, so only the faulty one fails.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiosqlite

from .._json import dumps
from ..flow import Conversation
from ..flow.outgoing import describe
from .base import ConversationKey, InboxEvent, NewEvent, OutboxMessage

__all__ = ["Write", "Writer"]

log = logging.getLogger("botkit.store")


class StaleConversation(Exception):
    """The conversation changed in the database since it was loaded (another process)."""


@dataclass
class Write:
    """One caller's rows, and the future that tells it they are committed."""

    now: float
    events: list[NewEvent] = field(default_factory=list)
    key: ConversationKey | None = None
    conversation: Conversation | None = None
    expected_version: int | None = None
    outbox: list[dict[str, Any]] = field(default_factory=list)
    event_id: int | None = None
    story: list[tuple[str, str]] = field(default_factory=list)
    done: tuple[int, str | None] | None = None
    postponed: tuple[int, str] | None = None
    sent: tuple[int, str] | None = None
    retry: tuple[int, str, float] | None = None
    failed: tuple[int, str] | None = None
    delivery: tuple[str, str] | None = None
    work: Callable[[aiosqlite.Connection], Awaitable[Any]] | None = None
    # Filled by the commit:
    result: Any = None
    accepted: list[InboxEvent | None] = field(default_factory=list)
    queued: list[OutboxMessage] = field(default_factory=list)
    future: asyncio.Future[Write] | None = None


class Writer:
    """Commits queued writes in batches on one connection."""

    def __init__(self, db: aiosqlite.Connection, next_ids: tuple[int, int]) -> None:
        self._db = db
        self._next_inbox, self._next_outbox = next_ids
        self._queue: list[Write] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.writes = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        # An empty write behind everything queued: once it commits, all before it did.
        if self._task is not None and not self._task.done():
            await self.submit(Write(now=0.0))
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def submit(self, write: Write) -> Write:
        write.future = asyncio.get_running_loop().create_future()
        self._queue.append(write)
        self._wake.set()
        return await write.future

    def enqueue(self, write: Write) -> None:
        """Queue a write without waiting for its commit (it commits with the next batch);
        a failure is logged."""
        write.future = asyncio.get_running_loop().create_future()
        write.future.add_done_callback(_log_failure)
        self._queue.append(write)
        self._wake.set()

    async def exclusive(self, work: Callable[[aiosqlite.Connection], Awaitable[Any]]) -> Any:
        """Run ``work`` in a transaction of its own, after the writes queued before it
        (rare writes: resets, pruning)."""
        write = await self.submit(Write(now=0.0, work=work))
        return write.result

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._queue = self._queue, []
            # Plain writes commit together; an exclusive one ends the batch before it.
            plain: list[Write] = []
            for write in batch:
                if write.work is None:
                    plain.append(write)
                    continue
                if plain:
                    await self._commit_batch(plain)
                    plain = []
                await self._commit_alone(write, self._exclusive_run(write))
            if plain:
                await self._commit_batch(plain)

    def _exclusive_run(self, write: Write) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            assert write.work is not None
            write.result = await write.work(self._db)

        return run

    async def _commit_batch(self, batch: list[Write]) -> None:
        saved = (self._next_inbox, self._next_outbox)

        async def run() -> None:
            await self._apply(batch)

        try:
            await self._transaction(run)
        except Exception as error:
            for write in batch:
                write.accepted, write.queued = [], []
            self._next_inbox, self._next_outbox = saved
            if len(batch) == 1:
                self._settle(batch[0], error)
                return
            for write in batch:  # isolate the faulty write
                await self._commit_alone(write, self._single(write))
            return
        self.batches += 1
        self.writes += len(batch)
        for write in batch:
            self._settle(write, None)

    def _single(self, write: Write) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            write.accepted, write.queued = [], []
            await self._apply([write])

        return run

    async def _commit_alone(self, write: Write, run: Callable[[], Awaitable[None]]) -> None:
        saved = (self._next_inbox, self._next_outbox)
        try:
            await self._transaction(run)
        except Exception as error:
            self._next_inbox, self._next_outbox = saved
            self._settle(write, error)
            return
        self._settle(write, None)

    def _settle(self, write: Write, error: Exception | None) -> None:
        assert write.future is not None
        if write.future.done():
            return
        if error is None:
            write.future.set_result(write)
        else:
            write.accepted, write.queued = [], []
            write.future.set_exception(error)

    async def _transaction(self, run: Callable[[], Awaitable[None]]) -> None:
        await self._db.execute("BEGIN IMMEDIATE")
        try:
            await run()
        except BaseException:
            await self._db.execute("ROLLBACK")
            raise
        await self._db.execute("COMMIT")

    async def _apply(self, batch: list[Write]) -> None:
        db = self._db
        await self._insert_events(batch)
        new = [w for w in batch if w.conversation is not None and w.expected_version is None]
        if new:
            await db.executemany(
                "INSERT INTO conversations (state, ended, version, timeout_at, data, updated_at, "
                "flow, user) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [_conversation_row(w) for w in new],
            )
        changed = [
            w for w in batch if w.conversation is not None and w.expected_version is not None
        ]
        if changed:
            cursor = await db.executemany(
                "UPDATE conversations SET state = ?, ended = ?, version = ?, timeout_at = ?, "
                "data = ?, updated_at = ? WHERE flow = ? AND user = ? AND version = ?",
                [(*_conversation_row(w), w.expected_version) for w in changed],
            )
            if cursor.rowcount != len(changed):
                raise StaleConversation(
                    "a conversation changed since it was loaded; is a second server using "
                    "this database?"
                )
        outbox_rows: list[tuple[Any, ...]] = []
        history_rows: list[tuple[Any, ...]] = []
        for write in batch:
            history_rows += [
                (*write.key, write.now, k, t, None) for k, t in write.story if write.key is not None
            ]
            if write.conversation is None:
                continue
            for request in write.outbox:
                outbox_id = self._next_outbox
                self._next_outbox += 1
                conversation = write.conversation
                outbox_rows.append(
                    (
                        outbox_id,
                        conversation.flow,
                        conversation.user,
                        write.event_id,
                        dumps(request),
                        write.now,
                        write.now,
                        write.now,
                    )
                )
                history_rows.append(
                    (
                        conversation.flow,
                        conversation.user,
                        write.now,
                        "sent",
                        describe(request),
                        outbox_id,
                    )
                )
                write.queued.append(
                    OutboxMessage(
                        outbox_id,
                        conversation.flow,
                        conversation.user,
                        request,
                        "pending",
                        0,
                        write.now,
                        None,
                        write.now,
                    )
                )
        if outbox_rows:
            await db.executemany(
                "INSERT INTO outbox (id, flow, user, event_id, request, next_attempt_at, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                outbox_rows,
            )
        if history_rows:
            await db.executemany(
                "INSERT INTO history (flow, user, at, kind, text, outbox_id) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                history_rows,
            )
        await self._updates(batch)

    async def _insert_events(self, batch: list[Write]) -> None:
        wanted = [(w, e) for w in batch for e in w.events]
        if not wanted:
            return
        rows: list[tuple[Any, ...]] = []
        ids: list[int] = []
        for write, event in wanted:
            ids.append(self._next_inbox)
            self._next_inbox += 1
            routed = event.flow is not None and event.user is not None
            rows.append(
                (
                    ids[-1],
                    event.dedupe_key,
                    event.kind,
                    event.flow,
                    event.user,
                    dumps(event.payload),
                    write.now,
                    None if routed else write.now,
                )
            )
        # Retries of tyntec are rare: insert all and let the unique key drop duplicates. When
        # fewer rows went in than were given, look up which ones did.
        cursor = await self._db.executemany(
            "INSERT INTO inbox (id, dedupe_key, kind, flow, user, payload, received_at, "
            "processed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING",
            rows,
        )
        stored: set[int] = set(ids)
        if cursor.rowcount != len(rows):
            stored = set()
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                found = await self._db.execute_fetchall(
                    f"SELECT id FROM inbox WHERE id IN ({marks})", chunk
                )
                stored.update(row[0] for row in found)
        for event_id, (write, event) in zip(ids, wanted, strict=True):
            flow, user = event.flow, event.user
            if event_id in stored and flow is not None and user is not None:
                write.accepted.append(
                    InboxEvent(
                        event_id, event.kind, flow, user, event.payload, write.now, 0, event.parsed
                    )
                )
            else:
                write.accepted.append(None)

    async def _updates(self, batch: list[Write]) -> None:
        db = self._db
        statements: list[tuple[str, list[tuple[Any, ...]]]] = [
            (
                "UPDATE inbox SET processed_at = ?, error = ?, attempts = attempts + 1 "
                "WHERE id = ?",
                [(w.now, w.done[1], w.done[0]) for w in batch if w.done],
            ),
            (
                "UPDATE inbox SET attempts = attempts + 1, error = ? WHERE id = ?",
                [(w.postponed[1], w.postponed[0]) for w in batch if w.postponed],
            ),
            (
                "UPDATE outbox SET status = 'sent', message_id = ?, sent_at = ?, updated_at = ?, "
                "attempts = attempts + 1, last_error = NULL WHERE id = ?",
                [(w.sent[1], w.now, w.now, w.sent[0]) for w in batch if w.sent],
            ),
            (
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?, "
                "updated_at = ? WHERE id = ?",
                [(w.retry[2], w.retry[1], w.now, w.retry[0]) for w in batch if w.retry],
            ),
            (
                "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ?, "
                "updated_at = ? WHERE id = ?",
                [(w.failed[1], w.now, w.failed[0]) for w in batch if w.failed],
            ),
            # Keep every delivery status in order ("delivered, seen"), each once.
            (
                "UPDATE outbox SET delivery = CASE WHEN delivery IS NULL THEN ?1 "
                "WHEN ', ' || delivery || ', ' LIKE '%, ' || ?1 || ', %' THEN delivery "
                "ELSE delivery || ', ' || ?1 END, updated_at = ?2 WHERE message_id = ?3",
                [(w.delivery[1], w.now, w.delivery[0]) for w in batch if w.delivery],
            ),
        ]
        for sql, rows in statements:
            if rows:
                await db.executemany(sql, rows)


def _log_failure(future: asyncio.Future[Write]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("a queued write failed: %s", future.exception())


def _conversation_row(write: Write) -> tuple[Any, ...]:
    conversation = write.conversation
    assert conversation is not None
    return (
        conversation.state,
        int(conversation.ended),
        conversation.version,
        conversation.timeout_at,
        dumps(conversation.to_dict()),
        write.now,
        conversation.flow,
        conversation.user,
    )
