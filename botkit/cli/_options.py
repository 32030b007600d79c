"""Options that several commands share: how to reach tyntec's API, and how to reach a
deployed bot through tyntecEcho (``botkit echo-chat``, ``botkit test --remote``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

from ..tyntec import TyntecClient

__all__ = ["api_options", "remote_bot_options", "tyntec_client"]

Command = TypeVar("Command", bound=Callable[..., object])


def api_options(note: str = "") -> Callable[[Command], Command]:
    """``--api-key`` and ``--api-url`` (or TYNTEC_API_KEY, TYNTEC_API_URL); ``note`` ends
    their help, as in ``" (remote runs)"``."""

    def decorate(command: Command) -> Command:
        command = click.option(
            "--api-url", envvar="TYNTEC_API_URL", help=f"tyntec's API root{note}."
        )(command)
        return click.option("--api-key", envvar="TYNTEC_API_KEY", help=f"tyntec API key{note}.")(
            command
        )

    return decorate


def remote_bot_options(note: str = "") -> Callable[[Command], Command]:
    """:func:`api_options`, the bot's tyntecEcho ``--account`` and its operator ``--token``:
    what it takes to talk to a deployed bot as a user."""

    def decorate(command: Command) -> Command:
        command = click.option(
            "--token", envvar="BOTKIT_API_TOKEN", help="The bot's operator --api-token."
        )(command)
        command = click.option(
            "--account", envvar="BOTKIT_ECHO_ACCOUNT", default="botkit-echo", show_default=True,
            help=f"The bot's tyntecEcho account, the echo's receiver{note}.",
        )(command)  # fmt: skip
        return api_options(note)(command)

    return decorate


def tyntec_client(api_key: str | None, api_url: str | None) -> TyntecClient:
    """The client for the options' values; a missing key is a usage error."""
    try:
        return TyntecClient(api_key, base_url=api_url)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
