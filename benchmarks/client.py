"""CPU per request of the tyntec client: its own connections against an aiohttp session.

    python benchmarks/client.py [--requests 20000] [--concurrency 16] [--rounds 3]

The fake Chat API (the load generator's, answering 202) runs in a process of its own; this
process sends text messages through ``TyntecClient.chat.send`` (the sending process's call),
once through the client's own connections and once through an ``aiohttp.ClientSession``
passed as ``session=``, the two taking turns. What is reported is this process's CPU time
per request (user and system), so the fake API's work is not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import time
from multiprocessing.connection import Connection

import aiohttp
from _http import serve

from botkit.server._loop import event_loop_factory
from botkit.tyntec import TyntecClient, messages

ACCEPTED = b'{"messageId":"77185196-664a-43ec-b14a-fe97036c697f"}'


def fake_api(ready: Connection) -> None:
    async def main() -> None:
        server = await serve(lambda line, body: (202, ACCEPTED))
        ready.send(server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(main())


async def cpu_per_request(url: str, requests: int, concurrency: int, own: bool) -> float:
    message = messages.text("+491701234567", "Your order shipped", from_="4930123456")
    session = None if own else aiohttp.ClientSession()
    async with TyntecClient("bench", base_url=url, session=session) as api:

        async def user(count: int) -> None:
            for _ in range(count):
                await api.chat.send(message)

        await asyncio.gather(*(user(50) for _ in range(concurrency)))  # connections, warm-up
        started = time.process_time()
        await asyncio.gather(*(user(requests // concurrency) for _ in range(concurrency)))
        spent = time.process_time() - started
    if session is not None:
        await session.close()
    return spent / (requests // concurrency * concurrency) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()

    receiving, sending = multiprocessing.Pipe(duplex=False)
    server = multiprocessing.Process(target=fake_api, args=(sending,), daemon=True)
    server.start()
    url = f"http://127.0.0.1:{receiving.recv()}"
    results: dict[str, list[float]] = {"own connections": [], "aiohttp session": []}
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        for _ in range(arguments.rounds):
            for name, own in (("own connections", True), ("aiohttp session", False)):
                work = cpu_per_request(url, arguments.requests, arguments.concurrency, own)
                results[name].append(runner.run(work))
    server.kill()
    for name, values in results.items():
        rounds = ", ".join(f"{value:.0f}" for value in values)
        print(f"{name:16s} {statistics.median(values):6.1f} µs of CPU per request ({rounds})")
    ratio = statistics.median(results["own connections"]) / statistics.median(
        results["aiohttp session"]
    )
    print(f"own / aiohttp: {ratio:.2f}")


if __name__ == "__main__":
    main()
