"""Commands for operators: ``botkit start`` (a proactive conversation on a running server),
``botkit send`` (one message) and ``botkit otp`` (send and check a code), the last two
straight through the tyntec client."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import click

__all__ = ["start"]


def parse_vars(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``k=v`` pairs; a value that reads as JSON (a number, true, a list) keeps its type."""
    found: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name.isidentifier():
            raise click.BadParameter(f"{pair!r}: write name=value", param_hint="--var")
        try:
            found[name] = json.loads(raw)
        except ValueError:
            found[name] = raw
    return found


@click.command()
@click.argument("flow")
@click.option("--to", "to", required=True, help="The user's number, like +491701234567.")
@click.option("--var", "variables", multiple=True, help="A variable: name=value (repeatable).")
@click.option("--from", "account", help="The sending account (default: the flow's).")
@click.option("--channel", type=click.Choice(["whatsapp", "sms", "tyntecEcho"]), default="whatsapp")
@click.option("--restart", is_flag=True, help="Replace a conversation in progress.")
@click.option(
    "--server", envvar="BOTKIT_SERVER", default="http://127.0.0.1:8080", show_default=True
)
@click.option("--token", envvar="BOTKIT_API_TOKEN", help="The server's --api-token.")
def start(
    flow: str, to: str, variables: tuple[str, ...], account: str | None, channel: str,
    restart: bool, server: str, token: str | None,
) -> None:  # fmt: skip
    """Start FLOW for a user on a running `botkit serve` (reminders, notifications)."""
    body: dict[str, Any] = {
        "flow": flow, "to": to, "vars": parse_vars(variables), "channel": channel,
        "restart": restart,
    }  # fmt: skip
    if account:
        body["from"] = account
    status, answer = asyncio.run(_post(f"{server.rstrip('/')}/conversations", body, token))
    if status >= 400:
        raise click.ClickException(f"{answer.get('title', status)}: {answer.get('detail', answer)}")
    if status == 202:
        click.echo("accepted; the server is still processing it")
        return
    click.echo(f"started {answer['flow']} for {answer['user']}: now in {answer['state']}")
    for sent in answer.get("sent", []):
        click.echo(f"  sent: {sent}")


async def _post(url: str, body: dict[str, Any], token: str | None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
            session.post(url, json=body, headers=headers) as response,
        ):
            return response.status, await response.json(content_type=None)
    except aiohttp.ClientError as exc:
        raise click.ClickException(f"cannot reach the server at {url}: {exc}") from None
