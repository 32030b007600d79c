"""``botkit serve``: run flows behind tyntec's webhooks."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import click

from .._log_writer import log_writes_in_background
from ..flow import FlowError
from ..server._loop import event_loop_factory
from ..server.routing import RoutingError
from ..server.runner import CannotListen, DatabaseInUse, ServeOptions
from ..server.runner import serve as run_server
from ._options import api_options

__all__ = ["serve"]


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option(
    "--db", default="botkit.db", show_default=True, type=click.Path(path_type=Path),
    envvar="BOTKIT_DB", help="The SQLite database (conversations, inbox, outbox).",
)  # fmt: skip
@api_options()
@click.option(
    "--webhook-token", envvar="BOTKIT_WEBHOOK_TOKEN",
    help="Require this token (?token= or Authorization: Bearer) on the webhooks.",
)  # fmt: skip
@click.option("--sandbox", is_flag=True, help="Run the embedded tyntec sandbox and use it.")
@click.option("--sandbox-port", type=int, help="The sandbox's port (default: --port + 1).")
@click.option(
    "--durability", type=click.Choice(["full", "normal"]), default="full", show_default=True,
    help="SQLite synchronous mode: full survives power loss, normal a process crash.",
)  # fmt: skip
@click.option(
    "--sender", type=click.Choice(["process", "inline"]), default="process", show_default=True,
    help="Send replies from a second process (on a second core), or from this one.",
)  # fmt: skip
@click.option(
    "--webhooks", type=click.Choice(["front", "aiohttp"]), default="front", show_default=True,
    help="Serve the webhooks on botkit's own HTTP front, or on aiohttp's server as the rest.",
)  # fmt: skip
@click.option("--shutdown-timeout", default=10.0, show_default=True, type=float)
@click.option(
    "--reload",
    is_flag=True,
    help="Reload changed flows and their Python actions without a restart.",
)
@click.option(
    "--api-token", envvar="BOTKIT_API_TOKEN",
    help="Enable the operator API (POST /conversations) with this bearer token.",
)  # fmt: skip
@click.option(
    "--retention-days", type=float, envvar="BOTKIT_RETENTION_DAYS",
    help="Forget conversation history, events and sent messages older than this (min 3).",
)  # fmt: skip
def serve(
    paths: tuple[Path, ...],
    host: str,
    port: int,
    db: Path,
    api_url: str | None,
    api_key: str | None,
    webhook_token: str | None,
    sandbox: bool,
    sandbox_port: int | None,
    durability: str,
    sender: str,
    webhooks: str,
    shutdown_timeout: float,
    retention_days: float | None,
    reload: bool,
    api_token: str | None,
) -> None:
    """Serve flows (files or folders) on tyntec's webhooks: POST /webhook, POST /webhook/sms,
    GET /healthz, GET /metrics."""
    if logging.getLogger().level > logging.INFO:
        logging.getLogger("botkit").setLevel(logging.INFO)  # one line per event handled
    if not sandbox and not api_key:
        raise click.UsageError("give --api-key (or TYNTEC_API_KEY), or use --sandbox")
    options = ServeOptions(
        flows=list(paths),
        host=host,
        port=port,
        db=db,
        api_url=api_url,
        api_key=api_key,
        webhook_token=webhook_token,
        sandbox=sandbox,
        sandbox_port=sandbox_port,
        durability="full" if durability == "full" else "normal",
        sending="process" if sender == "process" else "inline",
        webhooks="front" if webhooks == "front" else "aiohttp",
        shutdown_timeout=shutdown_timeout,
        retention_days=retention_days,
        reload=reload,
        api_token=api_token,
    )
    try:
        # A line per event: written from a thread, a stalled log output cannot stall the bot.
        with (
            log_writes_in_background(),
            asyncio.Runner(loop_factory=event_loop_factory()) as runner,
        ):
            runner.run(run_server(options))
    except (FlowError, RoutingError, ValueError, DatabaseInUse, CannotListen) as exc:
        raise click.ClickException(str(exc)) from None
