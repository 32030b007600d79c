"""Group commit: every write of the store is queued, and the writer's thread commits all
writes that queued while its previous commit ran, in one transaction, each kind of row with
a few statements of many rows (:mod:`._rows`). Under load a commit carries many events;
alone, an event commits at once.

The thread holds the writing connection and never waits for the event loop: it hands each
batch's outcomes to the loop and goes on with the next batch. (Through aiosqlite each
statement was a trip between the loop and its thread, and under load each trip waited for a
turn of the busy loop: a commit took ten turns, and an event waited for two commits.)

A write that fails (a conversation changed by another process, a constraint) must not take
the others of its batch with it: the batch is rolled back and its writes are committed one
by one, so only the faulty one fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._json import dumps
from ..flow import Conversation
from ..flow.outgoing import describe
from ._rows import insert_rows, update_rows
from .base import (
    ConversationKey,
    InboxEvent,
    NewEvent,
    OutboxMessage,
    StaleConversation,
    StoreFailure,
    UnstorableEvent,
)

__all__ = ["Write", "Writer"]

log = logging.getLogger("botkit.store")


#: Delivery reports kept for a message whose send has not been reported yet (see Writer).
EARLY_DELIVERIES = 10_000


@dataclass(slots=True)
class Write:
    """One caller's rows, and the future that tells it they are committed.

    One or two are made for every event and one for every message sent: the fields that
    are often empty default to empty tuples, not new lists."""

    now: float
    events: Sequence[NewEvent] = ()
    key: ConversationKey | None = None
    conversation: Conversation | None = None
    expected_version: int | None = None
    outbox: Sequence[dict[str, Any]] = ()
    event_id: int | None = None
    story: Sequence[tuple[str, str]] = ()
    done: tuple[int, str | None] | None = None
    postponed: tuple[int, str] | None = None
    sent: tuple[int, str] | None = None
    retry: tuple[int, str, float] | None = None
    failed: tuple[int, str] | None = None
    delivery: tuple[str, str] | None = None
    work: Callable[[sqlite3.Connection], Any] | None = None
    on_commit: Callable[[Write], None] | None = None
    """Told of the commit on the loop's thread, before the future (and so its caller)."""
    processes_event: bool = False
    """The one event of ``events`` is processed by this same write (its turn is the rest):
    stored as processed, and the turn written only if the event is new."""
    # Rows made ready when the write is queued, on the event loop's thread, so that the
    # writer's thread spends its time in SQLite rather than in Python (where it would wait
    # for the loop's thread to let go of the GIL):
    event_rows: Sequence[tuple[Any, ...]] = ()
    conversation_row: tuple[Any, ...] | None = None
    outbox_rows: Sequence[tuple[Any, ...]] = ()
    # Filled by the commit (the thread records ids; the loop makes the objects):
    result: Any = None
    event_ids: Sequence[int | None] = ()
    first_outbox_id: int = 0
    accepted: list[InboxEvent | None] = field(init=False)  # set by finish()
    queued: list[OutboxMessage] = field(init=False)
    future: asyncio.Future[Write] | None = None

    def prepare(self) -> None:
        """Encode the rows (on the caller's thread)."""
        now = self.now
        processed = self.processes_event
        try:
            self.event_rows = [
                (e.dedupe_key, e.kind, e.flow, e.user, dumps(e.payload), now,
                 None if e.flow is not None and e.user is not None and not processed else now)
                for e in self.events
            ]  # fmt: skip
        except (TypeError, ValueError, RecursionError) as error:
            # The JSON parsers take deeper nesting than the encoders give back (orjson:
            # 1024 levels in, 254 out).
            raise UnstorableEvent(f"the event cannot be stored as JSON: {error}") from None
        conversation = self.conversation
        if conversation is not None:
            self.conversation_row = (
                conversation.state,
                int(conversation.ended),
                conversation.version,
                conversation.timeout_at,
                # The fields as they are (to_dict would copy the variables first).
                dumps(conversation.__dict__),
                now,
                conversation.flow,
                conversation.user,
            )
        if self.outbox:
            self.outbox_rows = [(dumps(r), describe(r)) for r in self.outbox]

    @property
    def duplicate(self) -> bool:
        """A write that processes its event, whose event was accepted before: its turn was
        not written."""
        return self.processes_event and (not self.event_ids or self.event_ids[0] is None)

    def finish(self) -> None:
        """Make the accepted events and queued messages from the ids the commit gave."""
        self.accepted = [
            InboxEvent(i, e.kind, e.flow, e.user, e.payload, self.now, 0, e.parsed)
            if i is not None and e.flow is not None and e.user is not None
            else None
            for i, e in zip(self.event_ids, self.events, strict=True)
        ]
        self.queued = []
        if self.key is not None and self.outbox and not self.duplicate:
            (flow, user), now = self.key, self.now
            self.queued = [
                OutboxMessage(self.first_outbox_id + n, flow, user, r, "pending", 0, now, None, now)
                for n, r in enumerate(self.outbox)
            ]


class Writer:
    """Commits queued writes in batches on one connection, in a thread of its own.

    The thread takes everything queued, commits it, hands the outcomes to the event loop and
    goes straight on with what queued meanwhile: a commit never waits for a turn of the
    loop. ``connect`` opens the connection, in that thread, which alone uses it.
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._db: sqlite3.Connection | None = None
        self._queue: queue.SimpleQueue[Write | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name="botkit-writer", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._next_inbox = self._next_outbox = 0
        # Delivery reports that came before the report of their message's send: tyntec may
        # post "delivered" before the sending process's line saying it took the message
        # reaches this process. Applied with the send's mark; the oldest let go past the
        # bound (reports of messages sent by other systems on the same account never match).
        self._early: OrderedDict[str, list[tuple[str, float]]] = OrderedDict()
        self.batches = 0
        self.writes = 0
        self.failure: StoreFailure | None = None
        """Set by the thread when a commit fails for a reason of the database (see
        :attr:`.base.Store.failure`), cleared when one succeeds; read on the loop's."""

    async def start(self) -> None:
        self._loop = loop = asyncio.get_running_loop()
        opened: asyncio.Future[Write] = loop.create_future()
        self._thread.start()
        self._queue.put(Write(now=0.0, future=opened))  # settled once the connection is open
        await opened

    async def stop(self) -> None:
        if not self._thread.is_alive():
            return
        # Everything queued before commits first; then the thread closes the connection.
        self._queue.put(None)
        assert self._loop is not None
        await self._loop.run_in_executor(None, self._thread.join)

    async def submit(self, write: Write) -> Write:
        write.prepare()
        assert self._loop is not None, "start() first"
        future: asyncio.Future[Write] = self._loop.create_future()
        write.future = future
        self._queue.put(write)
        return await future

    def enqueue(self, write: Write) -> None:
        """Queue a write without waiting for its commit (it commits with the next batch);
        a failure is logged."""
        write.prepare()
        self._queue.put(write)  # no future: one for every message sent costs a callback each

    async def exclusive(self, work: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run ``work`` (in the writer's thread) in a transaction of its own, after the
        writes queued before it (rare writes: resets, pruning)."""
        write = await self.submit(Write(now=0.0, work=work))
        return write.result

    # -- in the writer's thread ---------------------------------------------------------------

    def _work(self) -> None:
        if not self._open_first():
            return
        try:
            while self._commit_next():
                pass
        finally:
            self._close()

    def _open_first(self) -> bool:
        """Open the connection, for the write that waits for it; False if it failed."""
        opening = self._queue.get()
        assert opening is not None
        try:
            self._open()
        except BaseException as error:
            self._report([opening], [_as_exception(error)])
            return False
        self._report([opening], [None])
        return True

    def _commit_next(self) -> bool:
        """Commit what is queued (waiting for it), and hand the outcomes to the loop; False
        when told to stop. A method of its own so that, while the thread waits, no local
        name holds on to the last batch (its turns are the caller's to keep or let go)."""
        batch, stopping = self._take()
        if batch:
            try:
                errors = self._commit(batch)
            except Exception as error:  # a bug here must not stop the writer
                log.exception("committing %d writes failed", len(batch))
                errors = [error] * len(batch)
            self._note_failure(errors)
            self._report(batch, errors)
        return not stopping

    def _note_failure(self, errors: list[Exception | None]) -> None:
        if None in errors:  # something committed: writing works
            if self.failure is not None:
                lasted = time.time() - self.failure.since
                log.warning("the database takes writes again, after %.0f s", lasted)
            self.failure = None
            return
        for error in errors:
            # The database's own trouble (SQLITE_FULL, SQLITE_IOERR, a lock held too long),
            # not one write's (a constraint, a conversation changed meanwhile).
            if isinstance(error, sqlite3.OperationalError):
                if self.failure is None:
                    self.failure = StoreFailure(str(error), time.time())
                    log.error("the database takes no writes: %s", error)
                return

    def _take(self) -> tuple[list[Write], bool]:
        """Everything queued (waiting for the first); True when told to stop."""
        first = self._queue.get()
        if first is None:
            return [], True
        batch = [first]
        while True:
            try:
                write = self._queue.get_nowait()
            except queue.Empty:
                return batch, False
            if write is None:
                return batch, True
            batch.append(write)

    def _report(self, batch: list[Write], errors: list[Exception | None]) -> None:
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            self._loop.call_soon_threadsafe(self._settle_all, batch, errors)

    def _open(self) -> None:
        self._db = db = self._connect()
        (inbox,) = db.execute("SELECT COALESCE(MAX(id), 0) FROM inbox").fetchone()
        (outbox,) = db.execute("SELECT COALESCE(MAX(id), 0) FROM outbox").fetchone()
        self._next_inbox, self._next_outbox = int(inbox) + 1, int(outbox) + 1

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _commit(self, batch: list[Write]) -> list[Exception | None]:
        """Commit ``batch``; what each write came to (None: committed), in order."""
        errors: dict[int, Exception | None] = {}
        # Plain writes commit together; an exclusive one ends the batch before it.
        plain: list[Write] = []
        for write in batch:
            if write.work is None:
                plain.append(write)
                continue
            if plain:
                errors.update(self._commit_batch(plain))
                plain = []
            errors[id(write)] = self._commit_alone(write, self._exclusive_run(write))
        if plain:
            errors.update(self._commit_batch(plain))
        return [errors[id(write)] for write in batch]

    def _exclusive_run(self, write: Write) -> Callable[[], None]:
        def run() -> None:
            assert write.work is not None
            assert self._db is not None
            write.result = write.work(self._db)

        return run

    def _saved(self) -> tuple[int, int, OrderedDict[str, list[tuple[str, float]]] | None]:
        """What a transaction changes outside the database, to put back if it fails."""
        early = OrderedDict((k, list(v)) for k, v in self._early.items()) if self._early else None
        return self._next_inbox, self._next_outbox, early

    def _restore(
        self, saved: tuple[int, int, OrderedDict[str, list[tuple[str, float]]] | None]
    ) -> None:
        self._next_inbox, self._next_outbox, early = saved
        self._early = early if early is not None else OrderedDict()

    def _commit_batch(self, batch: list[Write]) -> dict[int, Exception | None]:
        saved = self._saved()
        try:
            self._transaction(lambda: self._apply(batch))
        except Exception as error:
            for write in batch:
                write.event_ids = []
            self._restore(saved)
            if len(batch) == 1:
                return {id(batch[0]): error}
            # Isolate the faulty write.
            return {id(write): self._commit_alone(write, self._single(write)) for write in batch}
        self.batches += 1
        self.writes += len(batch)
        return {id(write): None for write in batch}

    def _single(self, write: Write) -> Callable[[], None]:
        def run() -> None:
            write.event_ids = []
            self._apply([write])

        return run

    def _commit_alone(self, write: Write, run: Callable[[], None]) -> Exception | None:
        saved = self._saved()
        try:
            self._transaction(run)
        except Exception as error:
            self._restore(saved)
            write.event_ids = []
            return error
        return None

    # -- back on the event loop ---------------------------------------------------------------

    @staticmethod
    def _settle_all(batch: list[Write], errors: list[Exception | None]) -> None:
        for write, error in zip(batch, errors, strict=True):
            # The write lets go of its future, whose result is the write: left as a cycle,
            # the two (and the turn's events, conversation and messages hanging on the
            # write) would wait for the cyclic garbage collector, a pause of milliseconds
            # every few hundred events, rather than go when the caller is done with them.
            future, write.future = write.future, None
            if future is None:  # enqueued: nobody waits
                if error is not None:
                    log.error("a queued write failed: %s", error)
                continue
            if future.done():
                continue
            if error is None:
                write.finish()
                if write.on_commit is not None:
                    try:
                        write.on_commit(write)
                    except Exception:  # the write is committed: its caller still hears so
                        log.exception("a commit's hand-over failed")
                future.set_result(write)
            else:
                future.set_exception(error)

    # -- in the writer's thread, again --------------------------------------------------------

    def _transaction(self, run: Callable[[], None]) -> None:
        assert self._db is not None
        self._db.execute("BEGIN IMMEDIATE")
        try:
            run()
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _apply(self, batch: list[Write]) -> None:
        db = self._db
        assert db is not None
        self._insert_events(batch)
        new: list[tuple[Any, ...]] = []
        changed: list[tuple[Any, ...]] = []
        for write in batch:
            row = write.conversation_row
            if row is None or write.duplicate:
                continue
            if write.expected_version is None:
                new.append(row)
            else:
                changed.append((*row, write.expected_version))
        inserted = insert_rows(
            db,
            "INSERT INTO conversations (state, ended, version, timeout_at, data, updated_at, "
            "flow, user)",
            new,
            " ON CONFLICT (flow, user) DO NOTHING",
        )
        if inserted != len(new):
            raise StaleConversation(
                "a conversation was created in the database since it was looked up"
            )
        if changed:
            updated = update_rows(
                db,
                "conversations",
                "state = v.column1, ended = v.column2, version = v.column3, "
                "timeout_at = v.column4, data = v.column5, updated_at = v.column6",
                "flow = v.column7 AND user = v.column8 AND version = v.column9",
                changed,
            )
            if updated != len(changed):
                raise StaleConversation(
                    "a conversation changed in the database since it was loaded (reset by "
                    "`botkit conversations reset`, say)"
                )
        outbox_rows: list[tuple[Any, ...]] = []
        history_rows: list[tuple[Any, ...]] = []
        for write in batch:
            if write.duplicate:
                continue
            if write.processes_event:
                write.event_id = write.event_ids[0]
            if write.key is not None:
                history_rows += [(*write.key, write.now, k, t, None) for k, t in write.story]
            # The key, not the conversation: a failed turn's reply (on_error) is queued with
            # the conversation left as it was, unwritten.
            if write.key is None or not write.outbox_rows:
                continue
            (flow, user), now = write.key, write.now
            write.first_outbox_id = self._next_outbox
            for request, description in write.outbox_rows:
                outbox_id = self._next_outbox
                self._next_outbox += 1
                outbox_rows.append((outbox_id, flow, user, write.event_id, request, now, now, now))
                history_rows.append((flow, user, now, "sent", description, outbox_id))
        insert_rows(
            db,
            "INSERT INTO outbox (id, flow, user, event_id, request, next_attempt_at, "
            "created_at, updated_at)",
            outbox_rows,
        )
        insert_rows(db, "INSERT INTO history (flow, user, at, kind, text, outbox_id)", history_rows)
        self._updates(batch)

    def _insert_events(self, batch: list[Write]) -> None:
        rows: list[tuple[Any, ...]] = []
        for write in batch:
            write.event_ids = ids = []
            for row in write.event_rows:
                ids.append(self._next_inbox)
                rows.append((self._next_inbox, *row))
                self._next_inbox += 1
        if not rows:
            return
        # Retries of tyntec are rare: insert all and let the unique key drop duplicates. When
        # fewer rows went in than were given, look up which ones did.
        assert self._db is not None
        inserted = insert_rows(
            self._db,
            "INSERT INTO inbox (id, dedupe_key, kind, flow, user, payload, received_at, "
            "processed_at)",
            rows,
            " ON CONFLICT (dedupe_key) DO NOTHING",
        )
        if inserted == len(rows):
            return
        ids = [row[0] for row in rows]
        stored: set[int] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found = self._db.execute(f"SELECT id FROM inbox WHERE id IN ({marks})", chunk)
            stored.update(row[0] for row in found.fetchall())
        for write in batch:
            write.event_ids = [i if i in stored else None for i in write.event_ids]

    def _updates(self, batch: list[Write]) -> None:
        db = self._db
        assert db is not None
        # The two of every event and every message, many rows a statement:
        update_rows(
            db,
            "inbox",
            "processed_at = v.column1, error = v.column2, attempts = attempts + 1",
            "id = v.column3",
            [(w.now, w.done[1], w.done[0]) for w in batch if w.done],
        )
        sent = [(w.sent[1], w.now, w.sent[0]) for w in batch if w.sent]
        update_rows(
            db,
            "outbox",
            "status = 'sent', message_id = v.column1, sent_at = v.column2, "
            "updated_at = v.column2, attempts = attempts + 1, last_error = NULL",
            "id = v.column3",
            sent,
        )
        deliveries = [(w.delivery[1], w.now, w.delivery[0]) for w in batch if w.delivery]
        if self._early:  # reports that came first go first, in the order they came
            early = [
                (status, at, message_id)
                for message_id, _, _ in sent
                for status, at in self._early.pop(message_id, ())
            ]
            deliveries = early + deliveries
        # The rare ones:
        statements: list[tuple[str, list[tuple[Any, ...]]]] = [
            (
                "UPDATE inbox SET attempts = attempts + 1, error = ? WHERE id = ?",
                [(w.postponed[1], w.postponed[0]) for w in batch if w.postponed],
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
        ]
        for sql, rows in statements:
            if rows:
                db.executemany(sql, rows)
        if deliveries:
            self._record_deliveries(db, deliveries)

    def _record_deliveries(
        self, db: sqlite3.Connection, deliveries: list[tuple[str, float, str]]
    ) -> None:
        """Each ``(status, at, message_id)`` added to its message's delivery ("delivered,
        seen", each status once); one whose message has no id yet is kept for its send."""
        changed = db.total_changes
        db.executemany(
            "UPDATE outbox SET delivery = CASE WHEN delivery IS NULL THEN ?1 "
            "WHEN ', ' || delivery || ', ' LIKE '%, ' || ?1 || ', %' THEN delivery "
            "ELSE delivery || ', ' || ?1 END, updated_at = ?2 WHERE message_id = ?3",
            deliveries,
        )
        if db.total_changes - changed == len(deliveries):
            return
        ids = sorted({message_id for _, _, message_id in deliveries})
        known: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            found = db.execute(
                f"SELECT message_id FROM outbox WHERE message_id IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            known.update(row[0] for row in found.fetchall())
        for status, at, message_id in deliveries:
            if message_id not in known:
                self._early.setdefault(message_id, []).append((status, at))
                self._early.move_to_end(message_id)
        while len(self._early) > EARLY_DELIVERIES:
            self._early.popitem(last=False)


def _as_exception(error: BaseException) -> Exception:
    return error if isinstance(error, Exception) else RuntimeError(repr(error))
