"""Running the server as a process: flows loaded, optional embedded sandbox, signals handled.

SIGTERM (and SIGINT) stop accepting requests at once, then let in-flight turns finish and due
messages go out, within the shutdown timeout; whatever is left is in the database and is
picked up on the next start.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from aiohttp import web

from ..flow import Flow
from ..sandbox import DEFAULT_API_KEY, Sandbox
from ..store import Durability, SQLiteStore
from ..tyntec import TyntecClient
from ._collector import settle_collector
from ._db_lock import DatabaseInUse, DatabaseLock
from .app import DEFAULT_MAX_BODY, BotServer, Sending
from .reload import flow_files, load_and_warn
from .site import BotSite

__all__ = ["CannotListen", "DatabaseInUse", "ServeOptions", "find_flows", "serve"]

log = logging.getLogger("botkit.server")


@dataclass
class ServeOptions:
    """What ``botkit serve`` was asked to do."""

    flows: list[Path]
    host: str = "127.0.0.1"
    port: int = 8080
    db: Path = field(default_factory=lambda: Path("botkit.db"))
    api_url: str | None = None
    api_key: str | None = None
    webhook_token: str | None = None
    sandbox: bool = False
    sandbox_port: int | None = None
    durability: Durability = "full"
    sending: Sending = "process"
    #: Who serves the webhooks: botkit's front (see .front), or aiohttp as every other route.
    webhooks: Literal["front", "aiohttp"] = "front"
    max_body: int = DEFAULT_MAX_BODY
    shutdown_timeout: float = 10.0
    retention_days: float | None = None
    reload: bool = False
    api_token: str | None = None


def find_flows(paths: list[Path]) -> list[Flow]:
    """Load the flow files named, and every ``*.yaml`` in the folders named (flow tests,
    ``*.test.yaml``, are left out)."""
    files = flow_files(paths)
    if not files:
        raise ValueError(f"no flow files in {', '.join(map(str, paths))}")
    return [load_and_warn(file) for file in files]


async def serve(options: ServeOptions, *, stop: asyncio.Event | None = None) -> None:
    """Run until SIGTERM, SIGINT or ``stop`` is set. Raises :class:`DatabaseInUse` when
    another server holds the database (see :mod:`._db_lock`)."""
    flows = find_flows(options.flows)
    with DatabaseLock(options.db):
        await _serve(options, flows, stop or asyncio.Event())


async def _serve(options: ServeOptions, flows: list[Flow], stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runners: list[web.AppRunner] = []  # cleaned up in this order, whatever failed on the way
    api_url, api_key = options.api_url, options.api_key
    token_query = f"?token={options.webhook_token}" if options.webhook_token else ""
    try:
        if options.sandbox:
            sandbox_port = options.sandbox_port or options.port + 1
            sandbox = Sandbox(
                webhook_url=f"http://{_local(options.host)}:{options.port}/webhook{token_query}",
                sms_webhook_url=(
                    f"http://{_local(options.host)}:{options.port}/webhook/sms{token_query}"
                ),
            )
            runner = web.AppRunner(sandbox.app())
            await runner.setup()
            runners.append(runner)
            site = web.TCPSite(runner, options.host, sandbox_port)
            await _listen(site, "the embedded sandbox", "--sandbox-port")
            api_url, api_key = f"http://{_local(options.host)}:{sandbox_port}", DEFAULT_API_KEY
            print(
                f"embedded tyntec sandbox on http://{options.host}:{sandbox_port}: play a user"
                f" with\n  curl -s http://{options.host}:{sandbox_port}/sandbox/inbound "
                "-H 'content-type: application/json'"
                """ -d '{"from": "+491701234567", "text": "hi"}'""",
                flush=True,
            )
        store = SQLiteStore(options.db, durability=options.durability)
        api = TyntecClient(api_key, base_url=api_url)
        server = BotServer(
            flows,
            store,
            api,
            webhook_token=options.webhook_token,
            max_body=options.max_body,
            shutdown_timeout=options.shutdown_timeout,
            retention_days=options.retention_days,
            watch=options.flows if options.reload else None,
            api_token=options.api_token,
            sending=options.sending,
        )
        bot = web.AppRunner(
            server.app(), shutdown_timeout=options.shutdown_timeout, access_log=None
        )
        await bot.setup()
        runners.insert(0, bot)  # stops accepting first, then the server's own stop()
        if options.webhooks == "front":
            await _listen(BotSite(bot, server, options.host, options.port), "the bot", "--port")
        else:
            await _listen(web.TCPSite(bot, options.host, options.port), "the bot", "--port")
        print(
            f"botkit serving {', '.join(f.name for f in flows)} on"
            f" http://{options.host}:{options.port} (database {options.db})",
            flush=True,
        )
        settle_collector()  # everything loaded so far lives as long as the process
        await stop.wait()
    finally:
        log.info("stopping")
        for runner in runners:
            await runner.cleanup()


class CannotListen(OSError):
    """An address to serve on cannot be bound: its port is taken, say."""


async def _listen(site: web.BaseSite, what: str, option: str) -> None:
    try:
        await site.start()
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            reason = "the port is taken; is another server running there? Stop it, or"
        elif error.errno == errno.EACCES:
            reason = "this user may not use the port (below 1024, say);"
        else:  # an address this machine does not have, say
            reason = f"{error.strerror or error}; check --host, or"
        raise CannotListen(
            f"cannot listen on {site.name} for {what}: {reason} give {option} another port"
        ) from None


def _local(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
