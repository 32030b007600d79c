"""The webhook-to-reply benchmark: botkit against the bare-aiohttp floor, same load, one run.

    python benchmarks/run.py            # the full run (a few minutes)
    python benchmarks/run.py --smoke    # a few hundred events, as CI runs it
    python benchmarks/run.py --peer .venv-peer/bin/python   # and the aiogram peer

A fake tyntec Chat API (answering 202) and the load generator run in this process; each
subject runs in its own process, whose CPU time and peak memory are read from /proc. Users
walk benchmarks/flow.yaml (a greeting, an ask answered wrong then right, a template reply):
each sends its next message when the bot has answered the last, and an event counts when
its reply reached the fake API.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import aiohttp
from _http import Answer, KeepAliveClient, serve

from botkit._json import dumps, loads
from botkit.server._collector import settle_collector
from botkit.server._loop import event_loop_factory

HERE = Path(__file__).resolve().parent
TEXTS = ("hi", "1", "12", "123456")  # greeting, menu choice, wrong answer, right answer
TELEGRAM_TOKEN = "42:bench"  # the peer's bot (benchmarks/peer_aiogram.py)
TELEGRAM_SENT = (
    b'{"ok":true,"result":{"message_id":1,"date":1767225600,'
    b'"chat":{"id":1,"type":"private"},"text":"ok"}}'
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def tyntec_event(user: str, index: int, text: str) -> bytes:
    """A tyntec MoMessage: ``text`` from ``user`` on WhatsApp."""
    event = {
        "event": "MoMessage", "messageId": f"{user}-{index}",
        "channel": "whatsapp", "from": user, "to": "4930123456",
        "content": {"contentType": "text", "text": text},
        "whatsapp": {"senderName": "Bench"},
    }  # fmt: skip
    return dumps(event).encode()


def telegram_update(user: str, index: int, text: str) -> bytes:
    """The Telegram update that brings ``text`` from ``user``, for the peer."""
    person = {"id": int(user), "is_bot": False, "first_name": "Bench"}
    message = {
        "message_id": index + 1, "date": 1_767_225_600, "text": text,
        "chat": {"id": int(user), "type": "private", "first_name": "Bench"}, "from": person,
    }  # fmt: skip
    return dumps({"update_id": int(user) * 10 + index, "message": message}).encode()


class FakeTyntec:
    """Answers every send with 202 and wakes whoever waits for a reply to that user.

    It answers the peer's Telegram ``sendMessage`` calls too, as the Bot API does."""

    def __init__(self) -> None:
        self.replies: dict[str, int] = {}
        self.waiters: dict[str, tuple[int, asyncio.Future[float]]] = {}
        self.sent = 0

    def handle(self, request_line: bytes, body: bytes) -> Answer:
        if request_line.startswith(b"post /chat-api/v2/messages "):
            self.replied(str(loads(body)["to"]).lstrip("+"))
            return 202, b'{"messageId":"m-%d","acceptedAt":"2026-01-01T00:00:00Z"}' % self.sent
        if request_line.startswith(b"post /bot%s/sendmessage " % TELEGRAM_TOKEN.encode()):
            # aiogram posts its calls as a form.
            self.replied(parse_qs(body.decode())["chat_id"][0])
            return 200, TELEGRAM_SENT
        return 404, b'{"title":"Not Found"}'

    def replied(self, user: str) -> None:
        self.sent += 1
        count = self.replies.get(user, 0) + 1
        self.replies[user] = count
        waiting = self.waiters.get(user)
        if waiting is not None and count >= waiting[0] and not waiting[1].done():
            waiting[1].set_result(time.perf_counter())

    def reply_after(self, user: str, total: int) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        if self.replies.get(user, 0) >= total:
            future.set_result(time.perf_counter())
        self.waiters[user] = (total, future)
        return future


@dataclass
class Subject:
    name: str
    replies: tuple[int, ...]  # cumulative replies a user has after each of its events
    command: list[str]
    ready: str
    cwd: Path = HERE.parent  # where ``python -m botkit`` finds the package it runs
    webhook: Callable[[str, int, str], bytes] = tyntec_event  # an event's body
    process: subprocess.Popen[bytes] | None = None
    log: Any = None

    def start(self) -> None:
        # The log goes to a file: a pipe nobody reads fills up and blocks the subject.
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.DEVNULL, stderr=self.log, cwd=self.cwd
        )

    def stop(self, timeout: float = 30) -> str:
        assert self.process is not None
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.seek(0)
        text = self.log.read().decode(errors="replace")[-2000:]
        self.log.close()
        return text

    def processes(self) -> list[int]:
        """The subject's process and its children (botkit's sending process)."""
        assert self.process is not None
        found, todo = [], [self.process.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            for task in Path(f"/proc/{pid}/task").glob("*/children"):
                todo.extend(int(child) for child in task.read_text().split())
        return found

    def cpu_seconds(self) -> float:
        total = 0
        for pid in self.processes():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self) -> float:
        """The sum of each process's peak resident memory."""
        total = 0
        for pid in self.processes():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        return total / 1024


@dataclass
class Result:
    subject: str
    concurrency: int
    events: int
    seconds: float
    webhook: list[float] = field(default_factory=list)
    to_reply: list[float] = field(default_factory=list)
    cpu: float = 0.0
    rss: float = 0.0
    label: str = ""
    threads: dict[str, tuple[float, float]] = field(default_factory=dict)
    """For each thread (the subject's, and the load generator's), the shares of the
    measurement's time it ran and waited for a core."""

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def cpu_per_event_ms(self) -> float:
        return 1000 * self.cpu / self.events

    def row(self) -> str:
        ms = lambda v: f"{1000 * v:8.1f}"  # noqa: E731
        return (
            f"{self.label or self.subject:<22}{self.concurrency:>4}{self.rate:>10.0f}"
            f"{ms(percentile(self.webhook, 0.5))}{ms(percentile(self.webhook, 0.99))}"
            f"{ms(percentile(self.to_reply, 0.5))}{ms(percentile(self.to_reply, 0.99))}"
            f"{self.cpu_per_event_ms:>9.2f}{self.rss:>9.0f}"
        )


HEADER = (
    f"{'subject':<22}{'conc':>4}{'events/s':>10}{'wh p50':>8}{'wh p99':>8}"
    f"{'e2r p50':>8}{'e2r p99':>8}{'cpu ms':>9}{'rss MB':>9}"
)


async def wait_ready(url: str, subject: Subject, *, attempts: int = 600) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(attempts):
            if subject.process is not None and subject.process.poll() is not None:
                raise RuntimeError(f"{subject.name} exited: {subject.stop()}")
            try:
                async with session.get(url) as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{subject.name} did not start")


def thread_times(subject: Subject) -> dict[str, tuple[float, float]]:
    """Seconds so far that each thread of the subject (``pid/tid name``) and this process
    (the load generator and the fake API) spent running, and waiting for a core while
    ready to run (``/proc/.../schedstat``)."""
    times = {}
    for pid in subject.processes():
        for task in Path(f"/proc/{pid}/task").iterdir():
            name = (task / "comm").read_text().strip()
            times[f"{pid}/{task.name} {name}"] = _run_and_wait(task)
    mine = [_run_and_wait(task) for task in Path("/proc/self/task").iterdir()]
    times["load generator"] = (sum(run for run, _ in mine), sum(wait for _, wait in mine))
    return times


def _run_and_wait(task: Path) -> tuple[float, float]:
    try:
        run, wait, _ = (task / "schedstat").read_text().split()
    except (OSError, ValueError):  # a thread that ended meanwhile
        return 0.0, 0.0
    return int(run) / 1e9, int(wait) / 1e9


async def load(
    subject: Subject, fake: FakeTyntec, port: int, users: list[str], concurrency: int
) -> Result:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for user in users:
        queue.put_nowait(user)
    result = Result(subject.name, concurrency, 0, 0.0)

    async def worker() -> None:
        client = KeepAliveClient("127.0.0.1", port)
        try:
            while not queue.empty():
                user = queue.get_nowait()
                for index, text in enumerate(TEXTS):
                    body = subject.webhook(user, index, text)
                    replied = fake.reply_after(user, subject.replies[index])
                    started = time.perf_counter()
                    status, answer = await client.post("/webhook", body)
                    if status >= 300:
                        raise RuntimeError(f"{subject.name} answered {status}: {answer[:500]!r}")
                    result.webhook.append(time.perf_counter() - started)
                    arrived = await asyncio.wait_for(replied, timeout=30)
                    result.to_reply.append(arrived - started)
                    result.events += 1
        finally:
            client.close()

    threads_before = thread_times(subject)
    cpu_before = subject.cpu_seconds()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - started
    result.cpu = subject.cpu_seconds() - cpu_before
    result.threads = {
        name: ((run - before[0]) / result.seconds, (wait - before[1]) / result.seconds)
        for name, (run, wait) in thread_times(subject).items()
        for before in [threads_before.get(name, (0.0, 0.0))]
    }
    result.rss = subject.peak_rss_mb()
    return result


def botkit_subject(
    port: int, api_url: str, db: Path, durability: str, sender: str, *,
    name: str = "botkit", checkout: Path = HERE.parent, python: str = sys.executable,
) -> Subject:  # fmt: skip
    profile = os.environ.get("BOTKIT_BENCH_PROFILE")  # a file: profile botkit with cProfile
    runner = ["-m", "cProfile", "-o", profile] if profile else []
    wrapper = os.environ.get("BOTKIT_BENCH_WRAPPER", "")  # e.g. a profiler's command line
    command = [
        *wrapper.split(), python, *runner, "-m", "botkit", "serve", str(HERE / "flow.yaml"),
        "--port", str(port),
        "--db", str(db), "--api-url", api_url, "--api-key", "bench",
        "--durability", durability, "--sender", sender,
    ]  # fmt: skip
    return Subject(name, (1, 2, 3, 5), command, f"http://127.0.0.1:{port}/healthz", checkout)


def floor_subject(port: int, api_url: str) -> Subject:
    command = [sys.executable, str(HERE / "floor.py"), "--port", str(port), "--api-url", api_url]
    return Subject("floor", (1, 2, 3, 4), command, f"http://127.0.0.1:{port}/ready")


def pipeline_subject(port: int, api_url: str, db: Path, durability: str) -> Subject:
    command = [
        sys.executable, str(HERE / "pipeline.py"), "--port", str(port), "--api-url", api_url,
        "--db", str(db), "--durability", durability,
    ]  # fmt: skip
    return Subject("pipeline", (1, 2, 3, 5), command, f"http://127.0.0.1:{port}/ready")


def peer_subject(port: int, api_url: str, python: Path) -> Subject:
    command = [str(python), str(HERE / "peer_aiogram.py"), "--port", str(port),
               "--api-url", api_url]  # fmt: skip
    return Subject("aiogram", (1, 2, 3, 5), command, f"http://127.0.0.1:{port}/ready",
                   webhook=telegram_update)  # fmt: skip


async def populate(db: Path, conversations: int) -> None:
    """Store ``conversations`` idle conversations, as a long-running bot accumulates them."""
    from botkit.store import SQLiteStore

    store = SQLiteStore(db)  # creates the schema
    await store.open()
    await store.close()
    snapshot = {"flow": "bench", "state": "welcome", "vars": {"order": "123456"}, "ended": False,
                "channel": "whatsapp", "account": "4930123456", "name": "Bench", "entry": 4,
                "retries": 0, "otp_id": None, "timeout_at": None, "version": 4,
                "flow_version": None, "last_inbound": {"4930123456": 0.0}}  # fmt: skip
    with sqlite3.connect(db) as connection:
        rows = (
            ("bench", f"4915{n:09d}", "welcome", 0, 4, None,
             json.dumps({**snapshot, "user": f"4915{n:09d}"}), 0.0)
            for n in range(conversations)
        )  # fmt: skip
        connection.executemany(
            "INSERT INTO conversations (flow, user, state, ended, version, timeout_at, data, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


async def measure(
    subject: Subject, fake: FakeTyntec, port: int, users: list[str], concurrency: int,
    warmup: list[str],
) -> Result:  # fmt: skip
    subject.start()
    try:
        await wait_ready(subject.ready, subject)
        await load(subject, fake, port, warmup, min(concurrency, len(warmup)))
        return await load(subject, fake, port, users, concurrency)
    except BaseException:
        print(f"{subject.name} failed; its log ends with:\n{subject.stop()}", file=sys.stderr)
        raise
    finally:
        if subject.process is not None and subject.process.poll() is None:
            log = subject.stop()
            if subject.process.returncode not in (0, -15):
                print(log, file=sys.stderr)


def pooled(results: list[Result]) -> Result:
    """Several rounds of one subject as one measurement: events, time and CPU summed,
    latencies pooled, the highest peak memory."""
    first = results[0]
    merged = Result(first.subject, first.concurrency, 0, 0.0, label=first.label)
    for result in results:
        merged.events += result.events
        merged.seconds += result.seconds
        merged.webhook += result.webhook
        merged.to_reply += result.to_reply
        merged.cpu += result.cpu
        merged.rss = max(merged.rss, result.rss)
    return merged


async def start_fake_api() -> tuple[FakeTyntec, asyncio.Server, str]:
    """The fake Chat API on 127.0.0.1, its server (to close) and its root URL."""
    fake = FakeTyntec()
    server = await serve(fake.handle)
    return fake, server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def main(arguments: argparse.Namespace) -> int:
    fake, server, api_url = await start_fake_api()
    workdir = Path(tempfile.mkdtemp(prefix="botkit-bench-"))
    rounds: dict[tuple[str, int], list[Result]] = {}
    scale: dict[int, list[Result]] = {}
    run = 0

    def users(count: int) -> list[str]:
        nonlocal run
        run += 1
        return [f"49{run:03d}{n:07d}" for n in range(count)]

    async def one(subject: Subject, port: int, concurrency: int) -> Result:
        count = arguments.floor_users if subject.name == "floor" else arguments.users
        result = await measure(subject, fake, port, users(count), concurrency,
                               users(arguments.warmup))  # fmt: skip
        print(result.row(), flush=True)
        if arguments.threads:
            busy = {name: shares for name, shares in result.threads.items() if shares[0] >= 0.01}
            print("    " + ", ".join(
                f"{name} {run:.0%} (+{wait:.0%} waiting)" for name, (run, wait) in busy.items()
            ))  # fmt: skip
        return result

    try:
        print(HEADER)
        for concurrency in arguments.concurrency:
            # Floor and botkit take turns, round after round: the machine's load changes
            # over a run, and each pair of neighbouring measurements sees about the same.
            for round_ in range(arguments.rounds):
                port = free_port()
                floor = await one(floor_subject(port, api_url), port, concurrency)
                rounds.setdefault(("floor", concurrency), []).append(floor)
                if arguments.pipeline:
                    port = free_port()
                    db = workdir / f"c{concurrency}-{round_}-pipeline.db"
                    reference = pipeline_subject(port, api_url, db, arguments.durability)
                    rounds.setdefault(("pipeline", concurrency), []).append(
                        await one(reference, port, concurrency)
                    )
                port = free_port()
                db = workdir / f"c{concurrency}-{round_}.db"
                bot = botkit_subject(port, api_url, db, arguments.durability, arguments.sender)
                rounds.setdefault(("botkit", concurrency), []).append(
                    await one(bot, port, concurrency)
                )
                if arguments.peer is not None:
                    port = free_port()
                    peer = peer_subject(port, api_url, arguments.peer)
                    rounds.setdefault(("aiogram", concurrency), []).append(
                        await one(peer, port, concurrency)
                    )
                if arguments.baseline is not None:
                    port = free_port()
                    db = workdir / f"c{concurrency}-{round_}-baseline.db"
                    other = botkit_subject(port, api_url, db, arguments.durability,
                                           arguments.sender, name="baseline",
                                           checkout=arguments.baseline,
                                           python=arguments.baseline_python)  # fmt: skip
                    rounds.setdefault(("baseline", concurrency), []).append(
                        await one(other, port, concurrency)
                    )
        for stored in arguments.stored:
            await populate(workdir / f"stored-{stored}.db", stored)
        # Small and large stores take turns too, and are compared round by round.
        for _ in range(arguments.rounds if arguments.stored else 0):
            for stored in arguments.stored:
                port = free_port()
                db = workdir / f"stored-{stored}.db"
                bot = botkit_subject(port, api_url, db, arguments.durability, arguments.sender)
                result = await measure(bot, fake, port, users(arguments.users), 16,
                                       users(arguments.warmup))  # fmt: skip
                result.label = f"botkit {stored:,} stored"
                scale.setdefault(stored, []).append(result)
                print(result.row(), flush=True)
    finally:
        server.close()
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"\nall rounds together ({arguments.rounds} per subject):\n{HEADER}")
    for measured in rounds.values():
        print(pooled(measured).row())
    print()
    for concurrency in arguments.concurrency:
        pairs = zip(rounds[("floor", concurrency)], rounds[("botkit", concurrency)], strict=True)
        ratios = sorted(bot.rate / floor.rate for floor, bot in pairs)
        print(
            f"concurrency {concurrency}: botkit/floor events/s = {statistics.median(ratios):.2f}"
            f" (median of {len(ratios)} rounds: {', '.join(f'{r:.2f}' for r in ratios)})"
        )
        others = [name for name, wanted in (("pipeline", arguments.pipeline),
                                            ("aiogram", arguments.peer)) if wanted]  # fmt: skip
        for top, bottom in [*((other, "floor") for other in others),
                            *(("botkit", other) for other in others)]:  # fmt: skip
            pairs = zip(rounds[(bottom, concurrency)], rounds[(top, concurrency)], strict=True)
            ratios = sorted(a.rate / b.rate for b, a in pairs)
            print(
                f"    {top}/{bottom} events/s = {statistics.median(ratios):.2f}"
                f" (rounds: {', '.join(f'{r:.2f}' for r in ratios)})"
            )
        if arguments.baseline is not None:
            pairs = list(zip(rounds[("baseline", concurrency)], rounds[("botkit", concurrency)],
                             strict=True))  # fmt: skip
            for what, of in (("events/s", lambda r: r.rate),
                             ("CPU per event", lambda r: r.cpu_per_event_ms)):  # fmt: skip
                ratios = sorted(of(bot) / of(other) for other, bot in pairs)
                print(
                    f"    botkit/baseline {what} = {statistics.median(ratios):.2f}"
                    f" (rounds: {', '.join(f'{r:.2f}' for r in ratios)})"
                )
    if len(scale) == 2:
        small, big = (scale[stored] for stored in arguments.stored)
        ratios = sorted(
            b.cpu_per_event_ms / s.cpu_per_event_ms for s, b in zip(small, big, strict=True)
        )
        print(
            f"per-event CPU, {big[0].label} vs {small[0].label}: "
            f"{statistics.median(ratios):.2f} (median of {len(ratios)} rounds: "
            f"{', '.join(f'{r:.2f}' for r in ratios)})"
        )
        print(f"peak RSS with {big[0].label}: {max(r.rss for r in big):.0f} MB")
    failed = False
    everything = [r for measured in [*rounds.values(), *scale.values()] for r in measured]
    for result in everything:
        users_measured = arguments.floor_users if result.subject == "floor" else arguments.users
        expected = len(TEXTS) * users_measured
        if result.events != expected:
            print(
                f"{result.label or result.subject}: {result.events} of {expected} events answered"
            )
            failed = True
    print(f"durability: SQLite synchronous={arguments.durability.upper()}; "
          f"sender: {arguments.sender}")  # fmt: skip
    # How the interpreter was built moves every subject's figures (see "Tried" in the README);
    # sysconfig cannot tell (Debian's build, the faster one here, reports no such flags).
    print(f"python: {platform.python_version()} ({sys.executable})")
    return 1 if failed else 0


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few hundred events (for CI)")
    parser.add_argument("--users", type=int, default=1500, help="users per measurement")
    parser.add_argument("--floor-users", type=int,
                        help="users per measurement of the floor (default: 3 times --users, so "
                        "that the floor, about three times as fast, is measured for about as "
                        "long as botkit and sees the machine's speed swings alike)")  # fmt: skip
    parser.add_argument("--warmup", type=int, default=100, help="users before measuring")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--stored", type=int, nargs="*", default=[1_000, 1_000_000],
                        help="conversations stored beforehand, compared per event")  # fmt: skip
    parser.add_argument("--durability", choices=["full", "normal"], default="full")
    parser.add_argument("--sender", choices=["process", "inline"], default="process",
                        help="botkit serve --sender")  # fmt: skip
    parser.add_argument("--threads", action="store_true",
                        help="print how long each thread ran, and waited for a core, per "
                        "measurement (shares of the measurement's time)")  # fmt: skip
    parser.add_argument(
        "--no-pipeline",
        dest="pipeline",
        action="store_false",
        help="leave out the reference pipeline (benchmarks/pipeline.py)",
    )
    parser.add_argument("--peer", type=Path, metavar="PYTHON",
                        help="also measure the aiogram peer (benchmarks/peer_aiogram.py), run "
                        "by this Python: one of a virtualenv with benchmarks/"
                        "peer-requirements.txt")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=5,
                        help="measurements per subject and concurrency, in turns (the ratio is "
                        "their median: the machine's speed swings between rounds)")  # fmt: skip
    parser.add_argument("--baseline", type=Path, metavar="CHECKOUT",
                        help="also measure the botkit of another checkout (a git worktree of "
                        "an earlier commit, say) in the same rounds, and compare")  # fmt: skip
    parser.add_argument("--baseline-python", metavar="PYTHON", default=sys.executable,
                        help="the Python that runs --baseline (say, a virtualenv of another "
                        "Python version with botkit installed; default: this one)")  # fmt: skip
    arguments = parser.parse_args()
    if arguments.smoke:
        arguments.users, arguments.warmup, arguments.rounds = 60, 10, 1
        arguments.concurrency, arguments.stored = [16], [1_000, 20_000]
    if arguments.floor_users is None:
        arguments.floor_users = 3 * arguments.users
    return arguments


if __name__ == "__main__":
    arguments = options()
    # Every process of the benchmark runs on botkit's stack: the load generator shares the
    # two cores with the subject it measures, and on asyncio's own loop it took most of a
    # core and held the floor back (benchmarks/README.md).
    settle_collector()
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        sys.exit(runner.run(main(arguments)))
