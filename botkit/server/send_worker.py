"""The sending process: ``python -m botkit.server.send_worker``, started by the server (see
:mod:`.send_process`), never by hand.

It runs a :class:`~.sender.Sender` on its own core: messages come in on stdin, what became of
each goes back on stdout (:mod:`._send_wire`). It keeps nothing of its own: the server holds
every message until it hears the outcome, and hands the unanswered ones to a new process if
this one dies. The API key comes in the environment (``TYNTEC_API_KEY``), not the command
line, so ``ps`` does not show it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from .._log_writer import log_writes_in_background
from .._logging import setup_logging
from ..store import OutboxMessage
from ..tyntec import RetryPolicy, TyntecClient
from ._collector import settle_collector
from ._loop import event_loop_factory
from ._send_wire import LINE_LIMIT, Lines, decode, message_from_wire
from .sender import Sender

__all__ = ["PipeLedger", "main"]

log = logging.getLogger("botkit.server")


class PipeLedger:
    """Reports each outcome to the server as a line on stdout."""

    def __init__(self, out: asyncio.StreamWriter) -> None:
        self.lines = Lines(out)

    def report(self, entry: dict[str, object]) -> None:
        self.lines.add(entry)

    async def sent(self, message: OutboxMessage, message_id: str) -> None:
        self.report({"sent": message.id, "messageId": message_id})

    async def retrying(self, message: OutboxMessage, error: str, retry_at: float) -> None:
        self.report({"retry": message.id, "error": error, "at": retry_at})

    async def failed(self, message: OutboxMessage, error: str) -> None:
        self.report({"failed": message.id, "error": error})


async def _stdio() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, sys.stdout
    )
    return reader, asyncio.StreamWriter(transport, protocol, None, loop)


async def work(arguments: argparse.Namespace) -> None:
    reader, out = await _stdio()
    ledger = PipeLedger(out)
    api = TyntecClient(
        base_url=arguments.api_url,
        timeout=arguments.timeout,
        retry=RetryPolicy(attempts=arguments.attempts),
    )
    async with api:
        sender = Sender(api, ledger, base_delay=arguments.base_delay)
        settle_collector()  # what is loaded now lives as long as the process
        # A ConnectionError is the server gone (killed) while this process wrote to it or
        # read from it: what it did not hear of is pending in its database.
        with contextlib.suppress(ConnectionError):
            await _take_orders(reader, sender, ledger)
        # stdin closed: the server is stopping (it flushed first) or gone. What is still
        # unsent is pending in its database and goes out on its next start.
        await sender.close(0)
    ledger.lines.flush()
    with contextlib.suppress(ConnectionError):
        await out.drain()


async def _take_orders(reader: asyncio.StreamReader, sender: Sender, ledger: PipeLedger) -> None:
    while line := await reader.readline():
        order = decode(line)
        if "flush" in order:
            await sender.flush(float(order["flush"]))
            ledger.report({"flushed": True})
        else:
            sender.submit([message_from_wire(order)])
        await ledger.lines.drain_if_behind()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m botkit.server.send_worker")
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--attempts", type=int, default=RetryPolicy().attempts)
    parser.add_argument("--base-delay", type=float, default=1.0)
    parser.add_argument("--log-json", action="store_true")
    parser.add_argument("--log-level", default="WARNING")
    arguments = parser.parse_args(argv)
    setup_logging(json_lines=arguments.log_json)
    logging.getLogger("botkit").setLevel(arguments.log_level)  # as in the server's process
    # Ctrl-C reaches the whole process group: the server decides when this process ends
    # (by closing its stdin after a flush), so a signal must not cut the flush short.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Logged from a thread, as the server does: a stalled log output must not stall the
    # sends, nor keep this process from ending once the server is gone.
    with log_writes_in_background(), asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(work(arguments))


if __name__ == "__main__":
    main()
