"""The ``botkit`` command line: one module per group of commands."""

from __future__ import annotations

import click

from .. import __version__
from .._logging import setup_logging
from ._chat import chat
from ._conversations import conversations
from ._echo import echo_chat
from ._flows import graph, test, validate
from ._new import new
from ._operator import otp, send, start
from ._sandbox import sandbox
from ._serve import serve

__all__ = ["main"]


@click.group()
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
