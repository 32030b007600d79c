"""How far flows in more than one process could go here: several independent ``botkit serve``
processes (each with its own database and port, users split between them, no routing) against
one, and against the floor, the subjects taking turns round after round.

    python benchmarks/servers.py                      # 2 servers, 5 rounds at 64 users
    python benchmarks/servers.py --servers 3 --rounds 3

What it measures is an upper bound: a real design with the flows in several processes would
also route each user's events to the process that owns the user, and that hop costs CPU too
(prototyped and measured on 2026-11-28: two routed servers made 1.03 times one; see
benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
from pathlib import Path

import run  # benchmarks/run.py: its subjects, load generator and fake API


async def measure_together(
    subjects: list[run.Subject], fake: run.FakeTyntec, ports: list[int], users: list[str],
    concurrency: int, warmup: list[str],
) -> tuple[float, float]:  # fmt: skip
    """Events/s of ``subjects`` together, each with its share of the users and of the
    concurrency, and their CPU per event in ms."""
    count = len(subjects)
    for subject in subjects:
        subject.start()
    try:
        for subject in subjects:
            await run.wait_ready(subject.ready, subject)
        await asyncio.gather(*(
            run.load(subject, fake, port, warmup[n::count], max(1, concurrency // count))
            for n, (subject, port) in enumerate(zip(subjects, ports, strict=True))
        ))  # fmt: skip
        results = await asyncio.gather(*(
            run.load(subject, fake, port, users[n::count], concurrency // count)
            for n, (subject, port) in enumerate(zip(subjects, ports, strict=True))
        ))  # fmt: skip
    finally:
        for subject in subjects:
            if subject.process is not None and subject.process.poll() is None:
                subject.stop()
    events = sum(result.events for result in results)
    # The servers run side by side: together they took as long as the slowest.
    seconds = max(result.seconds for result in results)
    return events / seconds, 1000 * sum(result.cpu for result in results) / events


async def main(arguments: argparse.Namespace) -> None:
    fake, server, api_url = await run.start_fake_api()
    workdir = Path(tempfile.mkdtemp(prefix="botkit-servers-"))
    batch = 0

    def users(count: int) -> list[str]:
        nonlocal batch
        batch += 1
        return [f"49{batch:03d}{n:07d}" for n in range(count)]

    many = f"{arguments.servers} servers"
    ratios: dict[str, list[float]] = {f"{many}/one": [], f"{many}/floor": [], "one/floor": []}
    concurrency = arguments.concurrency
    for round_ in range(arguments.rounds):
        port = run.free_port()
        floor = await run.measure(
            run.floor_subject(port, api_url), fake, port, users(3 * arguments.users),
            concurrency, users(arguments.warmup),
        )  # fmt: skip
        port = run.free_port()
        one = await run.measure(
            run.botkit_subject(port, api_url, workdir / f"one-{round_}.db", "full", "process"),
            fake, port, users(arguments.users), concurrency, users(arguments.warmup),
        )  # fmt: skip
        ports = [run.free_port() for _ in range(arguments.servers)]
        subjects = [
            run.botkit_subject(port, api_url, workdir / f"many-{round_}-{n}.db", "full",
                               "process", name=f"server {n}")
            for n, port in enumerate(ports)
        ]  # fmt: skip
        rate, cpu = await measure_together(
            subjects, fake, ports, users(arguments.users), concurrency, users(arguments.warmup)
        )
        ratios[f"{many}/one"].append(rate / one.rate)
        ratios[f"{many}/floor"].append(rate / floor.rate)
        ratios["one/floor"].append(one.rate / floor.rate)
        print(
            f"round {round_ + 1}: floor {floor.rate:,.0f}, one botkit {one.rate:,.0f} "
            f"({one.cpu_per_event_ms:.2f} ms of CPU per event), {many} {rate:,.0f} "
            f"({cpu:.2f} ms) events/s",
            flush=True,
        )
    server.close()
    print(f"\nat {concurrency} users, medians of {arguments.rounds} rounds:")
    for name, values in ratios.items():
        print(f"  {name} events/s = {statistics.median(values):.2f} "
              f"({min(values):.2f} to {max(values):.2f})")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--users", type=int, default=1500, help="users per botkit measurement")
    parser.add_argument("--warmup", type=int, default=100)
    asyncio.run(main(parser.parse_args()))
