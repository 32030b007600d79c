"""Options that several commands share: how to reach tyntec's API, and how to reach a
deployed bot through tyntecEcho (``botkit echo-chat``, ``botkit test --remote``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import click

from ..tyntec import TyntecClient

__all__ = ["api_options", "remote_bot_options", "tyntec_client"]

Command = TypeVar("Command", bound=Callable[..., Any])


class Options(Protocol):
    """A decorator that adds options to a click command (or to its function)."""

    def __call__(self, command: Command, /) -> Command: ...


def api_options(note: str = "") -> Options:
    """``--api-key`` and ``--api-url`` (or TYNTEC_API_KEY, TYNTEC_API_URL); ``note`` ends
    their help, as in ``" (remote runs)"``."""
    return _options(
        click.option("--api-key", envvar="TYNTEC_API_KEY", help=f"tyntec API key{note}."),
        click.option("--api-url", envvar="TYNTEC_API_URL", help=f"tyntec's API root{note}."),
    )


def remote_bot_options(note: str = "") -> Options:
    """:func:`api_options`, the bot's tyntecEcho ``--account`` and its operator ``--token``:
    what it takes to talk to a deployed bot as a user."""
    return _options(
        api_options(note),
        click.option(
            "--account", envvar="BOTKIT_ECHO_ACCOUNT", default="botkit-echo", show_default=True,
            help=f"The bot's tyntecEcho account, the echo's receiver{note}.",
        ),
        click.option("--token", envvar="BOTKIT_API_TOKEN", help="The bot's operator --api-token."),
    )  # fmt: skip


def tyntec_client(api_key: str | None, api_url: str | None) -> TyntecClient:
    """The client for the options' values; a missing key is a usage error."""
    try:
        return TyntecClient(api_key, base_url=api_url)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def _options(*decorators: Options) -> Options:
    """Several option decorators as one; ``--help`` lists them in the order given."""

    def decorate(command: Command) -> Command:
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return decorate
