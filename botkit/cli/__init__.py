"""The ``botkit`` command line: one module per group of commands."""

from __future__ import annotations

import logging

import click

from .. import __version__
from ._chat import chat
from ._conversations import conversations
from ._flows import graph, test, validate
from ._new import new
from ._operator import otp, send, start
from ._sandbox import sandbox
from ._serve import serve

__all__ = ["main"]


@click.group()
@click.version_option(__version__, prog_name="botkit")
@click.option("-v", "--verbose", is_flag=True, help="Log debug details.")
def main(verbose: bool) -> None:
    """botkit: chatbots on tyntec's APIs."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        # transitions logs every state change at INFO: the engine reports moves itself.
        logging.getLogger("transitions").setLevel(logging.WARNING)


for command in (new, chat, sandbox, serve, start, send, otp, conversations, validate, graph, test):
    main.add_command(command)
