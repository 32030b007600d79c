"""Instructions per event: botkit's CPU work counted by valgrind, not timed.

    python benchmarks/instructions.py                      # this checkout
    python benchmarks/instructions.py --baseline /tmp/old  # and another, compared

This machine's speed drifts by 10% and more between runs, so a change that saves a few
percent of CPU cannot be seen in events per second. valgrind's callgrind counts the
instructions each process executes, which does not depend on the machine's speed. botkit
serves users one event at a time (concurrency 1, so no batching that depends on timing)
under callgrind, once with ``--users`` and once with twice as many; the difference, per
event, is what one more event costs, startup left out. Counted for the server's process and
its sending process separately.

It is slow (valgrind runs Python 50 to 100 times slower): a few minutes per checkout.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from run import (
    HERE,
    TEXTS,
    FakeTyntec,
    botkit_subject,
    free_port,
    load,
    start_fake_api,
    wait_ready,
)

_runs = itertools.count(1)
#: callgrind's last line of totals: ``totals: 123456``.
_TOTALS = re.compile(rb"^totals:\s+(\d+)", re.MULTILINE)


async def count(checkout: Path, users: int, fake: FakeTyntec, api_url: str) -> dict[str, int]:
    """Instructions of the server's process and of its sending process, for a run that
    serves ``users`` users (startup and shutdown included)."""
    workdir = Path(tempfile.mkdtemp(prefix="botkit-instructions-"))
    port = free_port()
    subject = botkit_subject(port, api_url, workdir / "bot.db", "full", "process",
                             checkout=checkout)  # fmt: skip
    valgrind = [
        "valgrind", "--tool=callgrind", "--trace-children=yes",
        f"--callgrind-out-file={workdir}/callgrind.%p",
    ]  # fmt: skip
    # The same hash seed, so the same dictionaries, run after run.
    subject.command = ["env", "PYTHONHASHSEED=0", *valgrind, *subject.command]
    subject.start()
    try:
        await wait_ready(subject.ready, subject, attempts=6000)
        names = [f"49{next(_runs):03d}{n:07d}" for n in range(users)]  # new users each run
        result = await load(subject, fake, port, names, 1)
        assert result.events == users * len(TEXTS), result.events
    finally:
        log = subject.stop(timeout=600)  # a graceful stop under valgrind takes a while
        if subject.process is not None and subject.process.returncode not in (0, -15):
            print(log, file=sys.stderr)
    server = subject.process.pid if subject.process else -1
    try:
        for _ in range(3000):  # the sending process ends after the server, and writes its counts
            counts = _totals(workdir, server)
            if len(counts) == 2:
                return counts
            await asyncio.sleep(0.1)
        raise RuntimeError("callgrind wrote no totals for both processes")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _totals(workdir: Path, server: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for out in workdir.glob("callgrind.*"):
        found = _TOTALS.findall(out.read_bytes())
        if found:
            pid = int(out.name.rpartition(".")[2])
            counts["server" if pid == server else "sending"] = int(found[-1])
    return counts


async def per_event(checkout: Path, users: int, fake: FakeTyntec, api_url: str) -> dict[str, float]:
    small = await count(checkout, users, fake, api_url)
    large = await count(checkout, 2 * users, fake, api_url)
    events = users * len(TEXTS)
    return {name: (large[name] - small[name]) / events for name in sorted(large)}


async def main(arguments: argparse.Namespace) -> int:
    fake, server, api_url = await start_fake_api()
    try:
        checkouts = {"botkit": HERE.parent}
        if arguments.baseline is not None:
            checkouts["baseline"] = arguments.baseline
        results = {}
        for name, checkout in checkouts.items():
            results[name] = await per_event(checkout, arguments.users, fake, api_url)
            costs = ", ".join(f"{process} {value:,.0f}" for process, value in results[name].items())
            print(f"{name}: instructions per event: {costs}", flush=True)
        if "baseline" in results:
            for process, value in results["botkit"].items():
                before = results["baseline"].get(process)
                if before:
                    print(f"    botkit/baseline, {process}: {value / before:.3f}")
            total = sum(results["botkit"].values()) / sum(results["baseline"].values())
            print(f"    botkit/baseline, both: {total:.3f}")
    finally:
        server.close()
    return 0


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=25,
                        help="users of the smaller run (the larger has twice as many)")  # fmt: skip
    parser.add_argument("--baseline", type=Path, metavar="CHECKOUT",
                        help="also count the botkit of another checkout, and compare")  # fmt: skip
    return parser.parse_args()


if __name__ == "__main__":
    if subprocess.run(["valgrind", "--version"], capture_output=True).returncode != 0:
        sys.exit("valgrind is needed (apt-get install valgrind)")
    sys.exit(asyncio.run(main(options())))
