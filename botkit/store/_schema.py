"""The SQLite schema, as numbered migrations applied in order on start."""

from __future__ import annotations

__all__ = ["MIGRATIONS"]

MIGRATIONS: list[str] = [
    # 1: conversations, inbox, outbox.
    """
    CREATE TABLE conversations (
        flow        TEXT NOT NULL,
        user        TEXT NOT NULL,
        state       TEXT,
        ended       INTEGER NOT NULL DEFAULT 0,
        version     INTEGER NOT NULL,
        timeout_at  REAL,
        data        TEXT NOT NULL,
        updated_at  REAL NOT NULL,
        PRIMARY KEY (flow, user)
    ) WITHOUT ROWID;
    CREATE INDEX conversations_deadline ON conversations (timeout_at)
        WHERE timeout_at IS NOT NULL;

    CREATE TABLE inbox (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        dedupe_key    TEXT NOT NULL UNIQUE,
        kind          TEXT NOT NULL,
        flow          TEXT,
        user          TEXT,
        payload       TEXT NOT NULL,
        received_at   REAL NOT NULL,
        processed_at  REAL,
        attempts      INTEGER NOT NULL DEFAULT 0,
        error         TEXT
    );
    CREATE INDEX inbox_pending ON inbox (flow, user, id) WHERE processed_at IS NULL;

    CREATE TABLE outbox (
        id               INTEGER PRIMARY KEY AUTOINCREMENT,
        flow             TEXT NOT NULL,
        user             TEXT NOT NULL,
        event_id         INTEGER,
        request          TEXT NOT NULL,
        status           TEXT NOT NULL DEFAULT 'pending',
        attempts         INTEGER NOT NULL DEFAULT 0,
        next_attempt_at  REAL NOT NULL,
        message_id       TEXT,
        delivery         TEXT,
        last_error       TEXT,
        created_at       REAL NOT NULL,
        sent_at          REAL,
        updated_at       REAL NOT NULL
    );
    CREATE INDEX outbox_pending ON outbox (flow, user, id) WHERE status = 'pending';
    CREATE INDEX outbox_message ON outbox (message_id) WHERE message_id IS NOT NULL;
    """,
    # 2: the story of each conversation: events, moves, messages, errors.
    """
    CREATE TABLE history (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        flow       TEXT NOT NULL,
        user       TEXT NOT NULL,
        at         REAL NOT NULL,
        kind       TEXT NOT NULL,
        text       TEXT NOT NULL,
        outbox_id  INTEGER
    );
    CREATE INDEX history_conversation ON history (flow, user, id);
    CREATE INDEX history_age ON history (at);
    """,
]
