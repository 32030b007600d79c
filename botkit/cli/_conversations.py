"""``botkit conversations``: look into and reset the conversations of a database."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from .._conversation_story import story_lines
from ..store import SQLiteStore, UnreadableConversation
from ..store.sqlite import backup

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
    """The story of a conversation: each event, the moves it made, what the bot sent and what
    became of it ("10:02 user: hi -> welcome; bot: Hi Ana! ... (delivered, seen)")."""

    async def run() -> None:
        store = _open(db)
        await store.open()
        try:
            keys = await store.conversation_keys(flow=flow, user=user)
            if not keys:
                raise click.ClickException(f"no conversation with {user}")
            for key in keys:
                unreadable = None
                try:
                    conversation = await store.load(key)
                except UnreadableConversation as error:  # its story may tell what happened
                    conversation, unreadable = None, str(error)
                story = await store.history(key)
                if as_json:
                    data: dict[str, Any] = {
                        "conversation": conversation.to_dict() if conversation else None,
                        "story": [e.__dict__ for e in story],
                    }
                    if unreadable is not None:
                        data["unreadable"] = unreadable
                    click.echo(json.dumps(data, indent=2, ensure_ascii=False))
                    continue
                if unreadable is not None:
                    click.echo(f"{key[0]} / {key[1]}: unreadable: {unreadable}")
                elif conversation is not None:
                    state = "ended" if conversation.ended else conversation.state
                    click.echo(f"{conversation.flow} / {conversation.user}: {state}")
                    click.echo(f"  vars: {json.dumps(conversation.vars, ensure_ascii=False)}")
                for line in story_lines(story):
                    click.echo(f"  {line}")
        finally:
            await store.close()

    asyncio.run(run())


@conversations.command("backup")
@_DB
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
def backup_command(db: Path, target: Path) -> None:
    """Copy the database to TARGET, consistently, while botkit runs."""
    if not db.exists():
        raise click.ClickException(f"no database at {db}")
    try:
        asyncio.run(backup(db, target))
    except FileExistsError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"backed up {db} to {target}")


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
            # By key, unread: a conversation that cannot be read back is reset all the same.
            found = await store.conversation_keys(flow=flow, user=user)
            for key in found:
                await store.reset(key)
        finally:
            await store.close()
        return len(found)

    count = asyncio.run(run())
    if not count:
        raise click.ClickException(f"no conversation with {user}")
    click.echo(f"reset {count} conversation(s) with {user}")
