"""``botkit echo-chat``: talk to a deployed bot as a user, through tyntec's tyntecEcho."""

from __future__ import annotations

import asyncio
import sys

import click

from ..chat import render_message
from ..remote import RemoteBot, RemoteError
from ..tyntec import TyntecClient, TyntecError
from ._options import remote_bot_options, tyntec_client

__all__ = ["echo_chat"]


@click.command("echo-chat")
@click.option("--bot", "bot_url", required=True, help="The deployed bot's URL.")
@click.option("--as", "number", required=True, help="The pseudo user's number.")
@remote_bot_options()
def echo_chat(
    bot_url: str, number: str, api_key: str | None, api_url: str | None, account: str,
    token: str | None,
) -> None:  # fmt: skip
    """Each line you type goes through tyntec on tyntecEcho (replyBack), reaches the bot's
    webhook as a message from NUMBER, and the bot's answers are shown as they come."""
    api = tyntec_client(api_key, api_url)
    try:
        asyncio.run(_run(bot_url, api, number=number, account=account, token=token))
    except (RemoteError, TyntecError) as exc:
        raise click.ClickException(str(exc)) from None


async def _run(
    bot_url: str, api: TyntecClient, *, number: str, account: str, token: str | None
) -> None:
    interactive = sys.stdin.isatty()
    async with RemoteBot(bot_url, api=api, number=number, account=account, token=token) as bot:
        click.echo(f"# {bot.number} writing to {bot.bot_url} through tyntecEcho")
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, _read, interactive)
            if line is None or line.strip() in ("/quit", "/exit"):
                break
            if not line.strip():
                continue
            if not interactive:
                click.echo(f"you: {line.strip()}")
            for payload in await bot.say(line.strip()):
                click.echo(f"bot: {render_message(payload)}")


def _read(interactive: bool) -> str | None:
    try:
        return input("you> " if interactive else "")
    except EOFError:
        return None
