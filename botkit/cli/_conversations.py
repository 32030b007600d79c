"""``botkit conversations``: look into and reset the conversations of a database."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from ..store import SQLiteStore

__all__ = ["conversations"]

_DB = click.option(
    "--db", default="botkit.db", show_default=True, envvar="BOTKIT_DB",
    type=click.Path(dir_okay=False, path_type=Path),
)  # fmt: skip


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _open(db: Path) -> SQLiteStore:
    if not db.exists():
        raise click.ClickException(f"no database at {db}")
    return SQLiteStore(db)


@click.group()
def conversations() -> None:
    """List, show and reset conversations in a botkit database."""


@conversations.command("list")
@_DB
@click.option("--flow", help="Only this flow's conversations.")
def list_conversations(db: Path, flow: str | None) -> None:
    """One line per conversation: flow, user, state, last change."""

    async def run() -> None:
        store = _open(db)
        await store.open()
        try:
            found = await store.conversations(flow=flow)
        finally:
            await store.close()
        for conversation in found:
            state = "ended" if conversation.ended else conversation.state
            deadline = (
                f" timeout at {_when(conversation.timeout_at)}" if conversation.timeout_at else ""
            )
            click.echo(f"{conversation.flow}\t{conversation.user}\t{state}{deadline}")
        click.echo(f"{len(found)} conversation(s)")

    asyncio.run(run())


@conversations.command()
@_DB
@click.argument("user")
@click.option("--flow", help="The flow, when the user talks to several.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def show(db: Path, user: str, flow: str | None, as_json: bool) -> None:
    """A conversation's state and variables, the events it received and what was sent."""

    async def run() -> None:
        store = _open(db)
        await store.open()
        try:
            found = await store.conversations(flow=flow, user=user)
            if not found:
                raise click.ClickException(f"no conversation with {user}")
            for conversation in found:
                key = (conversation.flow, conversation.user)
                events = await store.inbox_events(key)
                sent = await store.outbox(key)
                if as_json:
                    click.echo(json.dumps({
                        "conversation": conversation.to_dict(),
                        "events": events,
                        "sent": [m.__dict__ for m in sent],
                    }, indent=2, default=str))  # fmt: skip
                    continue
                _print(conversation.to_dict(), events, [m.__dict__ for m in sent])
        finally:
            await store.close()

    asyncio.run(run())


def _print(
    conversation: dict[str, Any], events: list[dict[str, Any]], sent: list[dict[str, Any]]
) -> None:
    state = "ended" if conversation["ended"] else conversation["state"]
    click.echo(f"{conversation['flow']} / {conversation['user']}: {state}")
    click.echo(f"  vars: {json.dumps(conversation['vars'], ensure_ascii=False)}")
    story: list[tuple[float, int, str]] = []
    for event in events:
        payload = event["payload"]
        what = event["kind"]
        if what == "message":
            content = payload.get("content", {})
            what = f"user: {content.get('text') or content.get('contentType')}"
        elif what == "sms":
            what = f"user (sms): {payload.get('message')}"
        elif what == "delivery":
            what = f"status {payload.get('event', '').partition('::')[2]}"
        error = f"  ERROR {event['error']}" if event["error"] else ""
        story.append((event["received_at"], 0, f"{what}{error}"))
    for message in sent:
        request = message["request"]
        part = request.get(request["channels"][0], {})
        text = part.get("text") or part.get("contentType")
        status = message["delivery"] or message["status"]
        story.append((message["created_at"], 1, f"bot: {text} ({status})"))
    for when, _, line in sorted(story, key=lambda item: (item[0], item[1])):
        click.echo(f"  {_when(when)} {line}")


@conversations.command()
@_DB
@click.argument("user")
@click.option("--flow", help="The flow, when the user talks to several.")
def reset(db: Path, user: str, flow: str | None) -> None:
    """Forget a conversation: the user's next message starts anew."""

    async def run() -> int:
        store = _open(db)
        await store.open()
        try:
            found = await store.conversations(flow=flow, user=user)
            for conversation in found:
                await store.reset((conversation.flow, conversation.user))
        finally:
            await store.close()
        return len(found)

    count = asyncio.run(run())
    if not count:
        raise click.ClickException(f"no conversation with {user}")
    click.echo(f"reset {count} conversation(s) with {user}")
