"""The SQLite store on a real file: group commit, a faulty write failing alone, ids and
pending work surviving a reopen."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from botkit.flow import Conversation
from botkit.store import (
    DatabaseUnusable,
    NewEvent,
    OutboxMessage,
    SQLiteStore,
    StaleConversation,
    UnreadableConversation,
    _rows,
)
from botkit.store._rows import insert_rows, update_rows
from botkit.store._writes import Write


def event(number: int, user: str = "4917") -> NewEvent:
    return NewEvent(f"mo:{number}", "message", {"n": number}, "support", user)


async def open_store(path: Path) -> SQLiteStore:
    store = SQLiteStore(path)
    await store.open()
    return store


async def test_writes_queued_together_commit_together(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "bot.db")
    try:
        accepted = await asyncio.gather(
            *(store.accept([event(n, user=f"49{n}")], now=1.0) for n in range(50))
        )
        assert all(stored is not None for (stored,) in accepted)
        assert len({stored.id for (stored,) in accepted if stored}) == 50
        assert store.writer.writes == 50
        assert store.writer.batches < 50  # the same commit carried several events
        assert len(await store.pending_events()) == 50
    finally:
        await store.close()


async def test_a_retried_event_is_not_accepted_twice(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "bot.db")
    try:
        first, again = await asyncio.gather(
            store.accept([event(1)], now=1.0), store.accept([event(1)], now=1.0)
        )
        assert [first[0] is None, again[0] is None].count(True) == 1
        assert len(await store.pending_events()) == 1
    finally:
        await store.close()


async def test_a_stale_turn_fails_alone_and_its_batch_commits(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "bot.db")
    try:
        (one,), (two,) = [await store.accept([event(n, user=f"49{n}")], now=1.0) for n in (1, 2)]
        assert one is not None
        assert two is not None
        started = Conversation("support", "491", state="welcome", version=1)
        await store.finish_turn(one.id, started, [], now=2.0)
        # The second turn claims a version the database does not have (as if a second
        # process had moved the conversation on); the other turn in its batch commits.
        stale = Conversation("support", "491", state="ask", version=3)
        fresh = Conversation("support", "492", state="welcome", version=1)
        request = {"to": "492", "channels": ["whatsapp"], "whatsapp": {"contentType": "text",
                   "text": "hi", "from": "4930"}}  # fmt: skip
        results = await asyncio.gather(
            store.finish_turn(one.id, stale, [], now=3.0, expected_version=2),
            store.finish_turn(two.id, fresh, [request], now=3.0),
            return_exceptions=True,
        )
        assert isinstance(results[0], StaleConversation)
        assert [m.request for m in results[1]] == [request]  # type: ignore[union-attr]
        assert (await store.load(("support", "491"))) == started
        assert [c.state for c in await store.conversations(user="492")] == ["welcome"]
        assert [m.user for m in await store.pending_outbox()] == ["492"]
    finally:
        await store.close()


async def test_a_conversation_created_elsewhere_meanwhile_makes_the_turn_stale(
    tmp_path: Path,
) -> None:
    store = await open_store(tmp_path / "bot.db")
    try:
        (accepted,) = await store.accept([event(1)], now=1.0)
        assert accepted is not None
        assert await store.load(("support", "491")) is None
        # Another process starts the same conversation between the look-up and the commit.
        elsewhere = await open_store(tmp_path / "bot.db")
        (other,) = await elsewhere.accept([event(2)], now=1.0)
        assert other is not None
        theirs = Conversation("support", "491", state="ask", version=1)
        await elsewhere.finish_turn(other.id, theirs, [], now=2.0)
        await elsewhere.close()
        ours = Conversation("support", "491", state="welcome", version=1)
        with pytest.raises(StaleConversation):
            await store.finish_turn(accepted.id, ours, [], now=3.0)
        assert [c.state for c in await store.conversations(user="491")] == ["ask"]
        assert [e.id for e in await store.pending_events()] == [accepted.id]  # not done
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ('{"flow": "support", "user": "49', "its data is not JSON"),
        ("[1, 2]", "its data is a JSON list"),
        ('{"state": "ask", "vars": [1]}', "its 'vars' is not a JSON dict"),
        ('{"state": "ask", "version": "2"}', "its 'version' is not a JSON int"),
        ('{"state": "ask", "colour": "red"}', None),  # a field of another botkit: left out
    ],
)
async def test_a_conversation_that_cannot_be_read_back_says_so_and_can_be_reset(
    tmp_path: Path, data: str, reason: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    store = await open_store(tmp_path / "bot.db")
    try:
        (accepted,) = await store.accept([event(1)], now=1.0)
        assert accepted is not None
        written = Conversation("support", "491", state="ask", version=1)
        await store.finish_turn(accepted.id, written, [], now=2.0)
        await store.close()
        with contextlib.closing(sqlite3.connect(tmp_path / "bot.db")) as db, db:
            db.execute("UPDATE conversations SET data = ?", (data,))
        store = await open_store(tmp_path / "bot.db")  # nothing cached
        if reason is None:
            loaded = await store.load(("support", "491"))
            assert loaded is not None
            assert (loaded.flow, loaded.user, loaded.state) == ("support", "491", "ask")
            return
        with pytest.raises(UnreadableConversation, match=reason) as raised:
            await store.load(("support", "491"))
        assert raised.value.key == ("support", "491")
        assert await store.conversations() == []  # the readable ones, and a warning:
        assert "botkit conversations reset +491 --flow support" in caplog.text
        assert await store.conversation_keys(user="+491") == [("support", "491")]
        assert await store.reset(("support", "491"))
        assert await store.load(("support", "491")) is None
    finally:
        await store.close()


REQUEST = {"to": "491", "channels": ["whatsapp"],
           "whatsapp": {"contentType": "text", "text": "hi", "from": "4930"}}  # fmt: skip


async def test_an_event_and_its_turn_commit_together_once(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "bot.db")
    try:
        started = Conversation("support", "491", state="welcome", version=1)
        story = [("event", "user: hi")]
        accepted, queued = await store.accept_turn(
            event(1, "491"), started, [REQUEST], now=2.0, expected_version=None, story=story
        )
        assert accepted is not None
        assert accepted.received_at == 2.0
        assert [m.request for m in queued] == [REQUEST]
        assert await store.pending_events() == []  # stored as processed
        assert await store.load(("support", "491")) == started
        assert [m.id for m in await store.pending_outbox()] == [queued[0].id]
        assert [(h.kind, h.text) for h in await store.history(("support", "491"))] == [
            ("event", "user: hi"), ("sent", "hi")]  # fmt: skip

        # tyntec's retry of the same event: its turn (built on the same conversation) is
        # dropped, nothing of it written.
        again = Conversation("support", "491", state="ask", version=2)
        assert await store.accept_turn(
            event(1, "491"), again, [REQUEST], now=3.0, expected_version=1, story=story
        ) == (None, [])  # fmt: skip
        assert [c.state for c in await store.conversations(user="491")] == ["welcome"]
        assert len(await store.outbox(("support", "491"))) == 1
        assert len(await store.history(("support", "491"))) == 2
    finally:
        await store.close()


async def test_a_committed_turn_is_freed_without_the_cycle_collector(tmp_path: Path) -> None:
    # A write (with its event, conversation and messages) must go when its caller is done
    # with it: caught in a reference cycle, every turn's objects waited for the cyclic
    # garbage collector, milliseconds of pause every few hundred events under load.
    store = await open_store(tmp_path / "bot.db")
    gc.collect()
    gc.disable()
    try:
        for number in range(1, 4):
            conversation = Conversation("support", "491", state="welcome", version=number)
            accepted, queued = await store.accept_turn(
                event(number, "491"), conversation, [REQUEST], now=float(number),
                expected_version=number - 1 or None, story=[("event", "user: hi")],
            )  # fmt: skip
            assert accepted is not None
            assert len(queued) == 1
        await store.record_delivery("no-such-message", "delivered", now=5.0)
        for _ in range(3):  # the loop lets go of the handles it ran last
            await asyncio.sleep(0)
        assert [o for o in gc.get_objects() if isinstance(o, Write)] == []
    finally:
        gc.enable()
        await store.close()


async def test_a_commit_hands_its_messages_on_before_its_caller_resumes(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "bot.db")
    try:
        resumed = False
        handed: list[tuple[list[int], bool]] = []

        def hand_over(messages: list[OutboxMessage]) -> None:
            handed.append(([m.id for m in messages], resumed))

        started = Conversation("support", "491", state="welcome", version=1)
        _, queued = await store.accept_turn(
            event(1, "491"), started, [REQUEST], now=1.0, expected_version=None, story=[],
            on_commit=hand_over,
        )  # fmt: skip
        resumed = True
        assert handed == [([queued[0].id], False)]
        # A duplicate hands nothing on; nor does a turn with no messages.
        await store.accept_turn(
            event(1, "491"), started, [REQUEST], now=2.0, expected_version=None, story=[],
            on_commit=hand_over,
        )  # fmt: skip
        (second,) = await store.accept([event(2, "491")], now=3.0)
        assert second is not None
        moved = Conversation("support", "491", state="ask", version=2)
        await store.finish_turn(second.id, moved, [], now=3.0, expected_version=1,
                                on_commit=hand_over)  # fmt: skip
        assert len(handed) == 1
    finally:
        await store.close()


async def test_a_stale_turn_leaves_its_event_unaccepted(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "bot.db")
    try:
        current = Conversation("support", "491", state="welcome", version=1)
        await store.accept_turn(
            event(1, "491"), current, [], now=1.0, expected_version=None, story=[]
        )
        moved = Conversation("support", "491", state="ask", version=3)
        with pytest.raises(StaleConversation):
            await store.accept_turn(
                event(2, "491"), moved, [REQUEST], now=2.0, expected_version=2, story=[]
            )
        (retried,) = await store.accept([event(2, "491")], now=3.0)
        assert retried is not None  # the event was not stored: it can still be accepted
        assert await store.pending_outbox() == []
    finally:
        await store.close()


async def test_ids_and_pending_work_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    store = await open_store(path)
    (first,) = await store.accept([event(1)], now=1.0)
    await store.close()

    store = await open_store(path)
    try:
        (second,) = await store.accept([event(2)], now=2.0)
        assert first is not None
        assert second is not None
        assert second.id > first.id
        assert [e.id for e in await store.pending_events()] == [first.id, second.id]
    finally:
        await store.close()


async def test_resets_run_in_order_with_the_writes_before_them(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "bot.db")
    try:
        (accepted,) = await store.accept([event(1)], now=1.0)
        assert accepted is not None
        conversation = Conversation("support", "4917", state="welcome", version=1)
        _, existed = await asyncio.gather(
            store.finish_turn(accepted.id, conversation, [], now=2.0),
            store.reset(("support", "4917")),
        )
        assert existed is True  # the turn queued first and committed first
        assert await store.load(("support", "4917")) is None
    finally:
        await store.close()


async def test_a_long_exclusive_work_leaves_the_loop_free_and_writes_wait_for_it(
    tmp_path: Path,
) -> None:
    store = await open_store(tmp_path / "bot.db")
    try:

        def slow_count(db: sqlite3.Connection) -> int:
            time.sleep(0.3)  # a long prune, say: it runs off the event loop's thread
            return int(db.execute("SELECT COUNT(*) FROM inbox").fetchone()[0])

        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        counted = asyncio.ensure_future(store.writer.exclusive(slow_count))
        await asyncio.sleep(0)  # the exclusive work is queued first
        (accepted,) = await store.accept([event(1)], now=1.0)
        ticker.cancel()
        assert await counted == 0  # it ran before the write queued after it
        assert accepted is not None
        assert ticks >= 10  # the loop went on while the work ran
    finally:
        await store.close()


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    store = await open_store(path)
    await store.close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '999' WHERE key = 'schema'")
    with pytest.raises(DatabaseUnusable, match="has schema 999, newer than this botkit knows"):
        await open_store(path)


@pytest.fixture
def rows_db(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    with contextlib.closing(sqlite3.connect(tmp_path / "rows.db", isolation_level=None)) as db:
        yield db


@pytest.mark.parametrize("update_from", [True, False], ids=["update-from", "old-sqlite"])
@pytest.mark.parametrize("count", [1, 3, 64, 100, 131])
def test_many_rows_a_statement_insert_and_update_every_row(
    rows_db: sqlite3.Connection, count: int, update_from: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_rows, "UPDATE_FROM", update_from)
    db = rows_db
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE, n INTEGER)")
    rows = [(i, f"row{i}", 0) for i in range(count)]
    assert insert_rows(db, "INSERT INTO t (id, name, n)", rows) == count
    # A conflict drops that row alone, and the count says so.
    again = [(count + 1, "row0", 0), (count + 2, "new", 0)]
    tail = " ON CONFLICT (name) DO NOTHING"
    assert insert_rows(db, "INSERT INTO t (id, name, n)", again, tail) == 1
    changes = [(i * 10, i) for i in range(count)] + [(7, 10_000)]  # the last matches nothing
    assert update_rows(db, "t", "n = v.column1", "id = v.column2", changes) == count
    stored = db.execute("SELECT id, n FROM t WHERE name != 'new' ORDER BY id").fetchall()
    assert stored == [(i, i * 10) for i in range(count)]
    assert insert_rows(db, "INSERT INTO t (id, name, n)", []) == 0


@pytest.mark.parametrize(("count", "statements"), [(1, 1), (40, 1), (64, 1), (100, 2)])
def test_rows_of_one_kind_take_one_statement_up_to_64(
    rows_db: sqlite3.Connection, count: int, statements: int
) -> None:
    # Every statement gives up the GIL and waits to get it back: the fewer, the shorter a
    # commit under load.
    rows_db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER)")
    executed: list[str] = []
    rows_db.set_trace_callback(executed.append)
    insert_rows(rows_db, "INSERT INTO t (id, n)", [(i, i) for i in range(count)])
    assert len(executed) == statements


async def test_a_failed_write_nobody_waits_for_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = await open_store(tmp_path / "bot.db")
    try:
        (accepted,) = await store.accept([event(1)], now=1.0)
        assert accepted is not None
        started = Conversation("support", "4917", state="welcome", version=1)
        await store.finish_turn(accepted.id, started, [], now=2.0)
        stale = Conversation("support", "4917", state="ask", version=3)
        store.writer.enqueue(Write(now=3.0, conversation=stale, expected_version=2))
        await store.mark_sent(1, "m-1", now=3.0)  # queued behind it; a reset waits for both
        await store.reset(("support", "4917"))
        assert "a queued write failed" in caplog.text
        assert "changed in the database since it was loaded" in caplog.text
    finally:
        await store.close()


async def test_a_delivery_report_before_its_sends_report_is_kept_for_it(tmp_path: Path) -> None:
    # tyntec may post "delivered" before the sending process's line saying tyntec took the
    # message reaches the server: the report then matched no message and was lost.
    store = await open_store(tmp_path / "bot.db")
    try:
        conversation = Conversation("support", "491", state="welcome", version=1)
        _, (message,) = await store.accept_turn(
            event(1, "491"), conversation, [REQUEST], now=1.0, expected_version=None,
            story=[("event", "user: hi")],
        )  # fmt: skip
        await store.record_delivery("m-1", "delivered", now=2.0)
        await store.record_delivery("m-1", "seen", now=3.0)
        await store.record_delivery("someone-elses", "delivered", now=3.0)
        await store.mark_sent(message.id, "m-1", now=4.0)
        await store.record_delivery("m-1", "seen", now=5.0)  # once, as ever
        (stored,) = await store.outbox(("support", "491"))
        assert (stored.message_id, stored.delivery) == ("m-1", "delivered, seen")
    finally:
        await store.close()
