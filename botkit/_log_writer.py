"""Log lines written from a thread of their own, so that a slow log output never stalls a server.

``logging.StreamHandler`` writes each record to its stream on the thread that logged it. A
server logs a line per event from its event loop's thread, so a stream that blocks (a full
pipe to a log shipper that stalled, a terminal paused with Ctrl-S) stops every conversation
with it, and each line costs that thread a ``write()`` system call. The standard library's
answer, ``QueueHandler`` with a ``QueueListener`` (the logging cookbook, "Dealing with
handlers that block"), wakes its thread once per record and keeps every record, however far
behind the output falls.

`BackgroundLineHandler` formats each record on the logging thread (a record's arguments may
change once the call returns), keeps the line in a bounded buffer, and a thread of its own
writes it: at once after a quiet spell, and while lines keep coming, what gathered every few
milliseconds in one write. When the output falls so far behind that the buffer is full, new
lines are counted and dropped, and the count is written once the output moves again: memory
stays bounded and the server keeps serving.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

__all__ = ["BackgroundLineHandler", "log_writes_in_background"]


class BackgroundLineHandler(logging.Handler):
    """Formats on the caller's thread; writes to ``stream`` from a thread of its own."""

    def __init__(
        self, stream: TextIO, *, gather_seconds: float = 0.005, max_lines: int = 10_000
    ) -> None:
        super().__init__()
        self.stream = stream
        self._gather_seconds = gather_seconds
        self._max_lines = max_lines
        # Not ``self.lock``: ``logging.shutdown`` holds that around ``flush()``, which waits
        # for the writing thread, and that thread takes this one.
        self._buffer_lock = threading.Lock()
        self._written = threading.Condition(self._buffer_lock)
        self._lines: list[str] = []
        self._dropped = 0
        self._taken = 0  # lines handed to the buffer, counted to let flush() wait for them
        self._done = 0  # lines written or dropped
        self._wake = threading.Event()
        self._hurry = threading.Event()  # flush() and close() cut a batch's gathering short
        self._closing = False
        self._stopped = False  # the thread has written its last line and ended
        self._thread = threading.Thread(target=self._write_forever, name="botkit-log", daemon=True)
        self._thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        with self._buffer_lock:
            self._taken += 1
            if self._stopped:  # closed: nothing is lost, it is written here
                self._write(line + "\n")
                self._done += 1
                return
            if len(self._lines) >= self._max_lines:
                self._dropped += 1
                self._done += 1
                return
            if not self._lines:
                self._wake.set()  # once per batch, not once per line
            self._lines.append(line)

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until every line handed in so far is written (``timeout`` seconds at most)."""
        if self._closing or not self._thread.is_alive():
            return  # closed: close() waited for the thread already
        with self._buffer_lock:
            target = self._taken
            self._wake.set()
            self._hurry.set()
            self._written.wait_for(lambda: self._done >= target, timeout)

    def close(self) -> None:
        with self._buffer_lock:
            closed_before, self._closing = self._closing, True
            self._wake.set()
            self._hurry.set()
        # Once: logging.shutdown() closes it again at exit, and a thread stuck on a stalled
        # output must not hold the exit up twice.
        if not closed_before and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        super().close()

    def _write_forever(self) -> None:
        written_at = 0.0
        while True:
            self._wake.wait()
            if not self._closing and time.monotonic() - written_at < self._gather_seconds:
                # Lines keep coming: let a batch gather, one write rather than one a line. A
                # line after a quiet spell goes out at once, in step with other processes'.
                self._hurry.wait(self._gather_seconds)
            with self._buffer_lock:
                lines, self._lines = self._lines, []
                dropped, self._dropped = self._dropped, 0
                self._wake.clear()
                if not self._closing:
                    self._hurry.clear()
            if dropped:
                lines.append(
                    f"botkit: {dropped} log line(s) dropped: the log output was not keeping up"
                )
            if lines:
                self._write("\n".join(lines) + "\n")
                written_at = time.monotonic()
            with self._buffer_lock:
                self._done += len(lines) - (1 if dropped else 0)
                self._written.notify_all()
                if self._closing and not self._lines:
                    self._stopped = True
                    return

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except Exception:  # a closed or broken stream: nothing better to tell it to
            pass


@contextmanager
def log_writes_in_background() -> Iterator[None]:
    """Have the root logger's stream handlers write from a thread while the block runs.

    Their formatters and filters move with them; on leaving, every line is written before the
    old handlers come back, so that what the caller prints next follows it.
    """
    root = logging.getLogger()
    saved = root.handlers[:]
    moved: list[BackgroundLineHandler] = []
    handlers: list[logging.Handler] = []
    for handler in saved:
        if type(handler) is logging.StreamHandler:
            background = BackgroundLineHandler(handler.stream)
            background.setLevel(handler.level)
            background.setFormatter(handler.formatter)
            for kept in handler.filters:
                background.addFilter(kept)
            moved.append(background)
            handler = background
        handlers.append(handler)
    root.handlers[:] = handlers
    try:
        yield
    finally:
        for background in moved:
            background.close()  # every line written; a late one is written at once
        root.handlers[:] = saved
