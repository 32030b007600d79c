"""Many rows per SQLite statement.

``executemany`` steps its statement once per row, and Python's sqlite3 lets go of the GIL
around every step and takes it back after: with a busy event loop in the same process, each
taking back can wait for the loop's thread, so a commit of a hundred rows waited a hundred
times. A statement of many rows (``VALUES (...), (...)``) steps once. A batch's rows of one
kind go in one statement (up to 64 rows): every statement gives up the GIL and waits to get
it back, and under load that wait, not SQLite, is most of a commit's time (chunks of powers
of two took two or three statements where one does; benchmarks/README.md). Each size is a
statement of its own, kept prepared by the connection's statement cache, sized for all.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["insert_rows", "update_rows"]

#: The most rows in one statement (64 rows of 9 values stay far below SQLite's variable limit).
LARGEST_CHUNK = 64

#: ``UPDATE ... FROM`` came with SQLite 3.33 (2020); older ones update a row a step.
UPDATE_FROM = sqlite3.sqlite_version_info >= (3, 33, 0)
_VALUE_COLUMN = re.compile(r"\bv\.column(\d+)\b")  # v.column3 -> ?3 for a row a step


def insert_rows(
    db: sqlite3.Connection, head: str, rows: Sequence[tuple[Any, ...]], tail: str = ""
) -> int:
    """``head`` + ``VALUES (?, ...), ...`` + ``tail`` over ``rows``; the rows inserted.

    ``head`` is ``INSERT INTO table (columns)``; ``tail`` can be an ``ON CONFLICT`` clause."""
    return _chunked(db, lambda values: f"{head} VALUES {values}{tail}", rows)


def update_rows(
    db: sqlite3.Connection, table: str, assignments: str, match: str,
    rows: Sequence[tuple[Any, ...]],
) -> int:  # fmt: skip
    """``UPDATE table SET assignments FROM (VALUES ...) AS v WHERE match``; the rows updated.

    In ``assignments`` and ``match``, ``v.column1`` is the first value of a row, and so on."""
    if not UPDATE_FROM:
        sql = _VALUE_COLUMN.sub(r"?\1", f"UPDATE {table} SET {assignments} WHERE {match}")
        return db.executemany(sql, rows).rowcount if rows else 0
    return _chunked(
        db, lambda values: f"UPDATE {table} SET {assignments} FROM (VALUES {values}) AS v "
        f"WHERE {match}", rows,
    )  # fmt: skip


def _chunked(
    db: sqlite3.Connection, statement: Callable[[str], str], rows: Sequence[tuple[Any, ...]]
) -> int:
    if not rows:
        return 0
    row_marks = "(" + ", ".join("?" * len(rows[0])) + ")"
    changed, start = 0, 0
    while start < len(rows):
        size = min(LARGEST_CHUNK, len(rows) - start)
        chunk = rows[start : start + size]
        values = [value for row in chunk for value in row]
        changed += db.execute(statement(", ".join([row_marks] * size)), values).rowcount
        start += size
    return changed
