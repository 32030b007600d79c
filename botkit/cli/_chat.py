"""``botkit chat``: talk to a flow in the terminal, with no account and no network."""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import click

from .._conversation_story import story_lines
from ..chat import BotLine, ChatSession
from ..flow import FlowError, FlowRuntimeError
from ..flow._durations import parse_duration

__all__ = ["chat"]

HELP = """\
Type a message and press Enter. Commands:
  /image URL [caption]      send media (also /video, /audio, /document, /voice)
  /location LAT LON [name]  share a location
  /wait 10m                 let time pass, so timeouts fire now
  /otp                      show the code the sandbox sent ({otp} in a line types it)
  /status delivered|seen|failed   what became of the bot's last message
  /undeliverable whatsapp   from now on that channel cannot reach you (try fallbacks)
  /state                    the conversation's state and variables
  /history                  the conversation so far
  /reset                    forget the conversation
  /quit                     leave (Ctrl-D too)"""

MEDIA = ("image", "video", "audio", "document", "voice")


class _Terminal:
    def __init__(self) -> None:
        self.interactive = sys.stdin.isatty() and sys.stdout.isatty()
        if self.interactive:
            with contextlib.suppress(ImportError):
                import readline  # noqa: F401  (history and line editing for input())

    def bot(self, lines: list[BotLine]) -> None:
        for line in lines:
            labels = [line.channel] if line.channel != "whatsapp" else []
            labels += [] if line.delivered else ["not delivered"]
            channel = f" ({', '.join(labels)})" if labels else ""
            if self.interactive:
                click.echo(click.style(f"bot{channel}> ", fg="green", bold=True) + line.text)
            else:
                click.echo(f"bot{channel}: {line.text}")

    def info(self, text: str) -> None:
        click.echo(click.style(text, fg="cyan") if self.interactive else f"# {text}")

    def error(self, text: str) -> None:
        click.echo(click.style(text, fg="red") if self.interactive else f"! {text}", err=True)

    def read(self) -> str | None:
        try:
            return input(click.style("you> ", fg="blue", bold=True) if self.interactive else "")
        except EOFError:
            return None


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--channel", type=click.Choice(["whatsapp", "sms", "tyntecEcho"]), default="whatsapp",
    show_default=True,
)  # fmt: skip
@click.option("--as", "number", default="+491701234567", show_default=True, help="Your number.")
@click.option("--name", help="Your WhatsApp profile name.")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), help="Keep the chat here.")
def chat(
    paths: tuple[Path, ...], channel: str, number: str, name: str | None, db: Path | None
) -> None:
    """Talk to a bot in the terminal: the real engine, store and outbox, with the embedded
    sandbox as tyntec. Lines piped in are a script (plain output, no prompts)."""
    terminal = _Terminal()
    try:
        asyncio.run(_run(list(paths), terminal, number=number, name=name, channel=channel, db=db))
    except FlowError as exc:
        raise click.ClickException(str(exc)) from None


async def _run(
    paths: list[Path], terminal: _Terminal, *, number: str, name: str | None, channel: str,
    db: Path | None,
) -> None:  # fmt: skip
    async with ChatSession(paths, number=number, name=name, channel=channel, db=db) as session:
        flows = ", ".join(f.name for f in session.flows)
        terminal.info(f"chatting with {flows} as {session.number} on {channel}; /help for commands")
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, terminal.read)
            if line is None:
                break
            line = line.strip()
            if not line:
                continue
            if not terminal.interactive:
                click.echo(f"you: {line}")
            if line in ("/quit", "/exit"):
                break
            try:
                await _handle(session, terminal, line)
            except FlowRuntimeError as exc:
                terminal.error(str(exc))
            except ValueError as exc:
                terminal.error(str(exc))


async def _handle(session: ChatSession, terminal: _Terminal, line: str) -> None:
    if not line.startswith("/"):
        code = session.otp_code()
        if "{otp}" in line:
            if code is None:
                raise ValueError("no OTP code has been sent yet")
            line = line.replace("{otp}", code)
        terminal.bot(await session.say(line))
        return
    command, *arguments = shlex.split(line[1:]) or [""]
    actions: dict[str, Callable[[list[str]], Awaitable[None]]] = {
        "help": lambda _: _say(terminal, HELP),
        "location": lambda a: _location(session, terminal, a),
        "wait": lambda a: _wait(session, terminal, a),
        "otp": lambda _: _otp(session, terminal),
        "status": lambda a: _status(session, terminal, a),
        "undeliverable": lambda a: _undeliverable(session, terminal, a),
        "state": lambda _: _state(session, terminal),
        "history": lambda _: _history(session, terminal),
        "reset": lambda _: _reset(session, terminal),
    }
    if command in MEDIA:
        if not arguments:
            raise ValueError(f"usage: /{command} URL [caption]")
        caption = " ".join(arguments[1:]) or None
        terminal.bot(await session.send_media(command, arguments[0], caption))
    elif command in actions:
        await actions[command](arguments)
    else:
        raise ValueError(f"unknown command /{command}; /help lists them")


async def _say(terminal: _Terminal, text: str) -> None:
    for line in text.splitlines():
        terminal.info(line)


async def _location(session: ChatSession, terminal: _Terminal, arguments: list[str]) -> None:
    if len(arguments) < 2:
        raise ValueError("usage: /location LAT LON [name]")
    try:
        latitude, longitude = float(arguments[0]), float(arguments[1])
    except ValueError:
        raise ValueError("latitude and longitude are numbers, like 51.5 7.49") from None
    name = " ".join(arguments[2:]) or None
    terminal.bot(await session.send_location(latitude, longitude, name))


async def _wait(session: ChatSession, terminal: _Terminal, arguments: list[str]) -> None:
    if len(arguments) != 1:
        raise ValueError("usage: /wait 10m")
    seconds = parse_duration(arguments[0])
    lines = await session.wait(seconds)
    terminal.info(f"({arguments[0]} later)")
    terminal.bot(lines)


async def _otp(session: ChatSession, terminal: _Terminal) -> None:
    code = session.otp_code()
    terminal.info(f"the sandbox sent the code {code}" if code else "no OTP code sent yet")


async def _status(session: ChatSession, terminal: _Terminal, arguments: list[str]) -> None:
    if len(arguments) != 1 or arguments[0] not in ("delivered", "seen", "failed"):
        raise ValueError("usage: /status delivered|seen|failed")
    terminal.info(f"(your phone reports the last message {arguments[0]})")
    terminal.bot(await session.report(arguments[0]))


async def _undeliverable(session: ChatSession, terminal: _Terminal, arguments: list[str]) -> None:
    channels = ("whatsapp", "sms", "tyntecEcho")
    if len(arguments) != 1 or arguments[0] not in channels:
        raise ValueError(f"usage: /undeliverable {'|'.join(channels)}")
    session.make_undeliverable(arguments[0])
    terminal.info(f"(from now on, {arguments[0]} cannot deliver to you)")


async def _state(session: ChatSession, terminal: _Terminal) -> None:
    conversation = await session.conversation()
    if conversation is None:
        terminal.info("no conversation yet")
        return
    state = "ended" if conversation.ended else conversation.state
    terminal.info(f"flow {conversation.flow}, state {state}, vars {conversation.vars}")


async def _history(session: ChatSession, terminal: _Terminal) -> None:
    for line in story_lines(await session.history()):
        terminal.info(line)


async def _reset(session: ChatSession, terminal: _Terminal) -> None:
    done = await session.reset()
    terminal.info("conversation forgotten" if done else "no conversation to reset")
