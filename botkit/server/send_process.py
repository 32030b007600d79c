"""Sending from a process of its own, so that sending uses the second core.

Python runs one thread of Python at a time: in one process, taking webhooks, running flows
and sending replies share one core. Sending (an HTTP request to tyntec per message, and its
answer) is a fifth of that work (a third on aiohttp's client) and needs nothing from the rest
but the message, so ``botkit serve --sender process`` hands committed messages to a child process
(:mod:`.send_worker`) over a pipe and applies what it reports (sent, retrying, failed) to
the store through the same :class:`~.ledger.SendLedger` as in one process.

Nothing is lost when the child dies: the server keeps each message until its outcome comes
back, and gives those still open to a new child, in order. A message tyntec accepted whose
report did not come back is sent again (at least once, as after a crash of the server).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import sys
from typing import Any

from .._logging import JsonFormatter
from ..store import OutboxMessage
from ..tyntec import TyntecClient
from ._send_wire import LINE_LIMIT, Lines, decode, message_to_wire
from .ledger import SendLedger

__all__ = ["SendProcess"]

log = logging.getLogger("botkit.server")

#: Waits before starting a new child after one died, so a child that cannot start (a broken
#: install) does not make the server spin.
RESTART_DELAY = 1.0
MAX_RESTART_DELAY = 60.0


class SendProcess:
    """A :class:`~.sender.Sender` in a child process, with the sender's interface."""

    def __init__(
        self,
        ledger: SendLedger,
        api: TyntecClient,
        *,
        base_delay: float = 1.0,
        restart_delay: float = RESTART_DELAY,
    ) -> None:
        self.ledger = ledger
        self.api = api
        self.base_delay = base_delay
        self.restart_delay = restart_delay
        # Every message handed over whose outcome has not come back, by outbox id.
        self._open: dict[int, OutboxMessage] = {}
        self._child: asyncio.subprocess.Process | None = None
        self._lines = Lines(None)
        self._reading: asyncio.Task[None] | None = None
        self._flushed: asyncio.Future[None] | None = None
        self._all_done = asyncio.Event()
        self._all_done.set()
        self._closing = False
        self.restarts = 0
        self._quick_deaths = 0

    @property
    def pid(self) -> int | None:
        """The child's process id (None while none runs)."""
        return self._child.pid if self._child is not None else None

    @property
    def busy(self) -> bool:
        return bool(self._open)

    async def start(self) -> None:
        await self._spawn()

    async def deliver(self, messages: list[OutboxMessage]) -> None:
        """Hand committed messages to the child; waits only when the pipe is full (the
        child is behind), which slows the processor down instead of piling up memory."""
        self.submit(messages)
        await self._lines.drain_if_behind()

    def hand_over(self, messages: list[OutboxMessage]) -> None:
        """Committed messages, written to the child at once (not at the next turn of the
        loop): the processor hands them over the moment their commit is known."""
        self.submit(messages)
        self._lines.flush()

    def submit(self, messages: list[OutboxMessage]) -> None:
        for message in messages:
            self._open[message.id] = message
        if messages:
            self._all_done.clear()
        self._write(messages)

    async def idle(self) -> None:
        """Wait until every message handed over has an outcome."""
        await self._all_done.wait()

    async def flush(self, timeout: float) -> None:
        """Let the child send what is due, for at most ``timeout`` seconds."""
        child = self._child
        if child is None or child.stdin is None or child.stdin.is_closing() or not self._open:
            return
        self._flushed = asyncio.get_running_loop().create_future()
        self._lines.add({"flush": timeout})
        self._lines.flush()
        try:
            # The child keeps the time itself; the margin covers its answer's way back.
            await asyncio.wait_for(asyncio.shield(self._flushed), timeout + 2.0)
        except TimeoutError:
            log.warning("shutdown: the sending process did not finish its flush in time")

    async def close(self, timeout: float) -> None:
        """End the child (it stops when its stdin closes) and apply its last reports."""
        self._closing = True
        child, reading = self._child, self._reading
        if child is None or reading is None:
            return
        self._lines.flush()
        if child.stdin is not None:
            child.stdin.close()
        try:
            await asyncio.wait_for(asyncio.shield(reading), timeout + 2.0)
        except TimeoutError:
            log.warning("shutdown: the sending process did not stop; killing it")
            child.kill()
            await reading
        self._child = None

    # -- the child ---------------------------------------------------------------------------

    async def _spawn(self) -> None:
        command = [sys.executable, "-m", "botkit.server.send_worker", *self._arguments()]
        self._child = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "TYNTEC_API_KEY": self.api.api_key},
            limit=LINE_LIMIT,
        )
        # Lines not written to a child that died are dropped: it gets every open message.
        self._lines = Lines(self._child.stdin)
        self._reading = asyncio.get_running_loop().create_task(self._read(self._child))
        log.debug("sending process %d started", self._child.pid)

    def _arguments(self) -> list[str]:
        arguments = [
            "--api-url", self.api.base_url,
            "--timeout", str(self.api.timeout),
            "--attempts", str(self.api.retry.attempts),
            "--base-delay", str(self.base_delay),
            "--log-level", logging.getLevelName(logging.getLogger("botkit").getEffectiveLevel()),
        ]  # fmt: skip
        if any(isinstance(h.formatter, JsonFormatter) for h in logging.getLogger().handlers):
            arguments.append("--log-json")
        return arguments

    def _write(self, messages: list[OutboxMessage]) -> None:
        child = self._child
        if child is None or child.stdin is None or child.stdin.is_closing():
            return  # kept in _open: a new child gets them
        for message in messages:
            self._lines.add(message_to_wire(message))

    async def _read(self, child: asyncio.subprocess.Process) -> None:
        assert child.stdout is not None
        reported = False
        while line := await child.stdout.readline():
            reported = True
            try:
                await self._apply(decode(line))
            except Exception:  # a bad line (or a failed record) must not stop the reports behind it
                log.exception("a report of the sending process failed: %r", line[:200])
        code = await child.wait()
        if self._flushed is not None and not self._flushed.done():
            self._flushed.set_result(None)
        if self._closing:
            return
        # A child that dies before reporting anything (a broken install, say) is started
        # again less and less often, up to once a minute, rather than every second.
        self._quick_deaths = 0 if reported else self._quick_deaths + 1
        delay = min(MAX_RESTART_DELAY, self.restart_delay * 2**self._quick_deaths)
        log.error(
            "the sending process exited (code %s) with %d message(s) open; starting a new one "
            "in %gs", code, len(self._open), delay,
        )  # fmt: skip
        self.restarts += 1
        await asyncio.sleep(delay)
        if self._closing:
            return
        await self._spawn()
        self._write(sorted(self._open.values(), key=lambda message: message.id))

    async def _apply(self, report: dict[str, Any]) -> None:
        if "sent" in report:
            message = self._open.pop(int(report["sent"]), None)
            if message is not None:
                await self.ledger.sent(message, str(report["messageId"]))
        elif "retry" in report:
            message = self._open.get(int(report["retry"]))
            if message is not None:
                retry_at = float(report["at"])
                self._open[message.id] = dataclasses.replace(
                    message, attempts=message.attempts + 1, next_attempt_at=retry_at
                )
                await self.ledger.retrying(message, str(report["error"]), retry_at)
        elif "failed" in report:
            message = self._open.pop(int(report["failed"]), None)
            if message is not None:
                await self.ledger.failed(message, str(report["error"]))
        elif "flushed" in report and self._flushed is not None and not self._flushed.done():
            self._flushed.set_result(None)
        if not self._open:
            self._all_done.set()
