"""Log lines written from a thread: a stalled output never blocks the code that logs."""

from __future__ import annotations

import io
import logging
import os
import threading
import time
from collections.abc import Iterator

import pytest

from botkit._log_writer import BackgroundLineHandler, log_writes_in_background
from botkit._logging import LineFormatter, RedactSecrets


class CountedWrites(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("botkit.tests.log_writer")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    yield logger
    for handler in logger.handlers[:]:
        logger.removeHandler(handler)
        handler.close()
    logger.propagate = True


def test_lines_from_several_threads_are_all_written_in_batches(logger: logging.Logger) -> None:
    stream = CountedWrites()
    handler = BackgroundLineHandler(stream, gather_seconds=0.05)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)

    def log_lines(name: str) -> None:
        for index in range(500):
            logger.info("%s %d", name, index)

    threads = [threading.Thread(target=log_lines, args=(name,)) for name in "abcd"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    handler.flush()

    lines = stream.getvalue().splitlines()
    assert len(lines) == 2000
    for name in "abcd":  # each thread's lines in the order it logged them
        assert [line for line in lines if line[0] == name] == [f"{name} {i}" for i in range(500)]
    assert stream.writes < 100  # one write per batch, not one per line

    handler.close()
    logger.info("late")  # from a thread that still holds the handler: written, not lost
    assert stream.getvalue().splitlines()[-1] == "late"


def test_a_line_after_a_quiet_spell_goes_out_at_once_and_a_busy_one_waits_for_its_batch(
    logger: logging.Logger,
) -> None:
    stream = io.StringIO()
    handler = BackgroundLineHandler(stream, gather_seconds=5.0)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.info("first")
    deadline = time.monotonic() + 2.0  # far less than the 5 s a batch gathers for
    while stream.getvalue() != "first\n" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stream.getvalue() == "first\n"
    logger.info("second")  # right after a write: it waits for its batch
    time.sleep(0.2)
    assert stream.getvalue() == "first\n"
    handler.flush()
    assert stream.getvalue() == "first\nsecond\n"


def test_a_stalled_output_drops_lines_and_counts_them_instead_of_blocking(
    logger: logging.Logger,
) -> None:
    read_end, write_end = os.pipe()
    output = open(write_end, "w", encoding="utf-8")  # noqa: SIM115 (closed below)
    handler = BackgroundLineHandler(output, gather_seconds=0.001, max_lines=100)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    line = "x" * 1000
    # Nobody reads the pipe: after its 64 KiB the handler's thread blocks in write().
    # A StreamHandler would block this thread with it, forever.
    logged = threading.Event()

    def log_a_flood() -> None:
        for index in range(2000):
            logger.info("%d %s", index, line)
        logged.set()

    threading.Thread(target=log_a_flood, daemon=True).start()
    assert logged.wait(timeout=30), "logging blocked on the stalled output"

    # The output moves again: what was kept arrives, then the count of what was not.
    received = bytearray()
    reader = threading.Thread(target=lambda: _read_all(read_end, received), daemon=True)
    reader.start()
    handler.flush(timeout=30)
    output.close()
    reader.join(timeout=30)
    lines = received.decode().splitlines()
    notices = [text for text in lines if "dropped" in text]
    written = [text for text in lines if text.endswith(line)]
    dropped = sum(int(notice.split()[1]) for notice in notices)
    assert dropped > 0
    assert len(written) + dropped == 2000
    assert len(written) < 2000
    numbers = [int(text.split()[0]) for text in written]
    assert numbers == sorted(numbers)  # what is kept stays in order


def _read_all(fd: int, into: bytearray) -> None:
    while chunk := os.read(fd, 65536):
        into += chunk
    os.close(fd)


def test_serving_writes_from_a_thread_and_every_line_is_out_when_it_ends() -> None:
    root = logging.getLogger()
    stream = io.StringIO()
    direct = logging.StreamHandler(stream)
    direct.setFormatter(LineFormatter("%(levelname)s %(message)s"))
    direct.addFilter(RedactSecrets())
    saved = root.handlers[:], root.level
    root.handlers[:] = [direct]
    root.setLevel(logging.INFO)
    try:
        with log_writes_in_background():
            (moved,) = root.handlers
            assert isinstance(moved, BackgroundLineHandler)
            assert moved.stream is stream
            for index in range(300):
                logging.getLogger("botkit.server").info("event %d token=%s", index, "s3cr3t")
        # Back to the handler as it was, with every line written before the block returned.
        assert root.handlers == [direct]
        lines = stream.getvalue().splitlines()
        assert lines == [f"INFO event {index} token=***" for index in range(300)]
        assert not moved._thread.is_alive()
    finally:
        root.handlers[:], root.level = saved
