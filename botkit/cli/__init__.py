"""The ``botkit`` command line: one module per group of commands."""

from __future__ import annotations

from typing import Any

import click

from .. import __version__
from .._logging import setup_logging
from ..store.base import DatabaseUnusable
from ._chat import chat
from ._conversations import conversations
from ._echo import echo_chat
from ._flows import graph, test, validate
from ._new import new
from ._operator import otp, send, start
from ._sandbox import sandbox
from ._serve import serve

__all__ = ["main"]


class _Commands(click.Group):
    """Errors that any command using a database can meet, said as errors, not tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DatabaseUnusable as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Commands)
@click.version_option(__version__, prog_name="botkit")
@click.option("-v", "--verbose", is_flag=True, help="Log debug details.")
@click.option("--log-json", is_flag=True, help="Log JSON lines (with flow, user, state, event).")
def main(verbose: bool, log_json: bool) -> None:
    """botkit: chatbots on tyntec's APIs."""
    setup_logging(json_lines=log_json, verbose=verbose)


for command in (
    new,
    chat,
    echo_chat,
    sandbox,
    serve,
    start,
    send,
    otp,
    conversations,
    validate,
    graph,
    test,
):
    main.add_command(command)
