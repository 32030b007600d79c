"""One server per database: ``botkit serve`` holds an exclusive lock on ``<db>.lock`` while
it runs.

Two servers on one database would both resend the outbox they find pending at start (so a
message in flight goes out twice) and would run one user's events on two stale copies of the
conversation. A second ``botkit serve`` on the same file therefore stops at once, saying which
process holds it; this also catches a deployment that starts the new server before the old one
stopped.

The lock is ``flock`` on a file beside the database: the kernel drops it when its holder exits,
kill -9 included, so a crash never leaves a stale lock behind. The file itself stays (removing
it while another process waits on it would let two hold "the" lock). Where ``flock`` does not
exist (Windows), nothing is locked.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from types import TracebackType

from ..store.base import DatabaseUnusable

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["DatabaseInUse", "DatabaseLock"]


class DatabaseInUse(RuntimeError):
    """Another process serves the database."""


class DatabaseLock:
    """``with DatabaseLock(db):`` holds ``<db>.lock`` or raises :class:`DatabaseInUse`."""

    def __init__(self, database: str | Path) -> None:
        self.database = Path(database)
        real = self.database.resolve()  # two names of one file (a symlink) share one lock
        self.path = real.with_name(real.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        if fcntl is None:  # pragma: no cover - Windows
            return
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise DatabaseInUse(
                f"{self.database} is served by another botkit server (pid {holder}): stop "
                "it first, or give this one a database of its own (--db)"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        # Who holds it, for the message above (read by the next process that tries).
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def _open(self) -> int:
        unusable = f"cannot open the database {self.database}:"
        if self.database.is_dir():  # checked first: its lock would go beside the folder
            raise DatabaseUnusable(f"{unusable} it is a folder; --db names the database's file")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:  # a file where the folder should be, say
            raise DatabaseUnusable(
                f"{unusable} cannot make its folder {self.path.parent}: {error.strerror}"
            ) from None
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise DatabaseUnusable(
                f"{unusable} cannot create {self.path}: {error.strerror}; may this user"
                " create files in its folder?"
            ) from None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None and fcntl is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> DatabaseLock:
        self.acquire()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()
