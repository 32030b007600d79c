"""One server per database: the lock ``botkit serve`` holds beside the database file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from botkit.server._db_lock import DatabaseInUse, DatabaseLock


def test_a_second_holder_is_refused_with_the_first_ones_pid(tmp_path: Path) -> None:
    database = tmp_path / "bot.db"
    refused = rf"bot\.db is served by another botkit server \(pid {os.getpid()}\)"
    # flock conflicts between two opens of the file, even in one process.
    with DatabaseLock(database), pytest.raises(DatabaseInUse, match=refused):
        DatabaseLock(database).acquire()
    with DatabaseLock(database) as again:  # released: free to take
        assert again.path == (tmp_path / "bot.db.lock").resolve()


def test_a_symlink_to_the_database_shares_its_lock(tmp_path: Path) -> None:
    database = tmp_path / "bot.db"
    database.touch()
    (tmp_path / "link.db").symlink_to(database)
    with DatabaseLock(database), pytest.raises(DatabaseInUse, match=r"link\.db is served"):
        DatabaseLock(tmp_path / "link.db").acquire()


def test_other_databases_are_not_locked(tmp_path: Path) -> None:
    with DatabaseLock(tmp_path / "one.db"), DatabaseLock(tmp_path / "two.db"):
        pass


def test_a_holder_that_dies_without_releasing_leaves_no_lock(tmp_path: Path) -> None:
    database = tmp_path / "bot.db"
    code = (
        "import os, sys; from botkit.server._db_lock import DatabaseLock; "
        f"DatabaseLock({str(database)!r}).acquire(); print('held', flush=True); os._exit(0)"
    )
    held = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert held.stdout.strip() == "held"
    with DatabaseLock(database):  # the kernel dropped the dead process's lock
        pass
