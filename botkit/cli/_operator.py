"""Commands for operators: ``botkit start`` (a proactive conversation on a running server),
``botkit send`` (one message) and ``botkit otp`` (send and check a code), the last two
straight through the tyntec client."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Literal, cast

import aiohttp
import click
import pydantic

from .._numbers import is_phone_number
from ..tyntec import TyntecError, messages
from ..tyntec.messages import MissingSender, MissingSmsText
from ._options import api_options, tyntec_client

__all__ = ["otp", "send", "start"]


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
@click.option(
    "--request-id",
    help="Start the conversation once for this id, however often the command runs "
    "(a campaign script run again skips who was started, and starts who was refused).",
)
def start(
    flow: str, to: str, variables: tuple[str, ...], account: str | None, channel: str,
    restart: bool, server: str, token: str | None, request_id: str | None,
) -> None:  # fmt: skip
    """Start FLOW for a user on a running `botkit serve` (reminders, notifications)."""
    body: dict[str, Any] = {
        "flow": flow, "to": to, "vars": parse_vars(variables), "channel": channel,
        "restart": restart,
    }  # fmt: skip
    if account:
        body["from"] = account
    if request_id:
        body["requestId"] = request_id
    status, answer = asyncio.run(_post(f"{server.rstrip('/')}/conversations", body, token))
    if status >= 400:
        raise click.ClickException(f"{answer.get('title', status)}: {answer.get('detail', answer)}")
    if status == 202:
        click.echo("accepted; the server is still processing it")
        return
    if answer.get("duplicate"):
        click.echo(f"already started for request id {request_id}: nothing sent")
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


@click.command()
@click.option("--to", "to", required=True,
              help="The recipient, like +491701234567 (on tyntecEcho, any name).")  # fmt: skip
@click.option(
    "--channel", "channels", multiple=True, type=click.Choice(["whatsapp", "sms", "tyntecEcho"]),
    help="A channel; repeat for a fallback chain (default: whatsapp).",
)  # fmt: skip
@click.option("--from", "senders", multiple=True,
              help="The sender: ACCOUNT, or CHANNEL=ACCOUNT per channel.")  # fmt: skip
@click.option("--text", help="Send this text.")
@click.option("--media", "media_url", help="Send media from this URL.")
@click.option("--kind", type=click.Choice(["image", "video", "audio", "document"]), default="image")
@click.option("--caption", help="The media's caption.")
@click.option("--template", help="Send this WhatsApp template.")
@click.option("--language", default="en", show_default=True, help="The template's language.")
@click.option("--param", "params", multiple=True, help="A template parameter (repeatable).")
@click.option("--location", help="Send a location: LAT,LON.")
@click.option("--name", help="The location's name.")
@click.option("--sms-text", help="The text SMS gets when the chain falls back to it.")
@api_options()
def send(
    to: str, channels: tuple[str, ...], senders: tuple[str, ...], text: str | None,
    media_url: str | None, kind: str, caption: str | None, template: str | None,
    language: str, params: tuple[str, ...], location: str | None, name: str | None,
    sms_text: str | None, api_key: str | None, api_url: str | None,
) -> None:  # fmt: skip
    """Send one message (text, media, template or location) through tyntec's Chat API."""
    kinds = [k for k, v in (("text", text), ("media", media_url), ("template", template),
                            ("location", location)) if v]  # fmt: skip
    if len(kinds) != 1:
        raise click.UsageError("give exactly one of --text, --media, --template, --location")
    chain = list(channels) or ["whatsapp"]
    numbered = [channel for channel in chain if channel in ("whatsapp", "sms")]
    if numbered and not is_phone_number(to):
        raise click.BadParameter(
            f"{to!r} is not a phone number; {' and '.join(numbered)} "
            f"{'send' if len(numbered) > 1 else 'sends'} to numbers in international form, "
            "like +491701234567",
            param_hint="--to",
        )
    common: dict[str, Any] = {"channels": chain, "from_": _senders(senders)}
    try:
        if text:
            request = messages.text(to, text, **common)
        elif media_url:
            media_kind = cast(Literal["image", "video", "audio", "document"], kind)
            request = messages.media(
                to, media_url, kind=media_kind, caption=caption, sms_text=sms_text, **common
            )
        elif template:
            request = messages.template(
                to, template, language=language, params=params, sms_text=sms_text, **common
            )
        else:
            latitude, longitude = _coordinates(location or "")
            request = messages.location(
                to, latitude, longitude, name=name, sms_text=sms_text, **common
            )
    except MissingSender as exc:  # said as the option that gives it, not the parameter
        raise click.UsageError(
            f"a {exc.channel} message needs the account it is sent from: give --from ACCOUNT,"
            f" or --from {exc.channel}=ACCOUNT for each channel of a chain"
        ) from None
    except MissingSmsText as exc:
        raise click.UsageError(
            f"SMS cannot carry a {exc.kind} message: give --sms-text, the text SMS sends instead"
        ) from None
    except pydantic.ValidationError as exc:  # one line per mistake, without pydantic's links
        raise click.UsageError(_mistakes(exc)) from None
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None

    async def run() -> str:
        async with tyntec_client(api_key, api_url) as api:
            return (await api.chat.send(request)).message_id

    click.echo(f"sent: {_call(run)}")


def _senders(values: tuple[str, ...]) -> str | dict[str, str] | None:
    if not values:
        return None
    if len(values) == 1 and "=" not in values[0]:
        return values[0]
    mapping = {}
    for value in values:
        channel, sep, account = value.partition("=")
        if not sep:
            raise click.BadParameter(f"{value!r}: write CHANNEL=ACCOUNT", param_hint="--from")
        mapping[channel] = account
    return mapping


def _mistakes(error: pydantic.ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or error.title}: "
        + str(e["msg"]).removeprefix("Value error, ")
        for e in error.errors()
    )


def _coordinates(text: str) -> tuple[float, float]:
    try:
        latitude, longitude = (float(part) for part in text.split(","))
    except ValueError:
        raise click.BadParameter("write LAT,LON, like 51.5,7.49", param_hint="--location") from None
    return latitude, longitude


def _call(run: Any) -> Any:
    try:
        return asyncio.run(run())
    except TyntecError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
def otp() -> None:
    """Send and check one-time passwords through tyntec's 2FA API."""


@otp.command("send")
@click.argument("number")
@click.option(
    "--via", type=click.Choice(["sms", "voice", "auto"]), default="sms", show_default=True
)
@click.option("--language", help="The language template (ISO 639-1).")
@click.option("--application", help="The 2FA application id.")
@api_options()
def otp_send(
    number: str, via: str, language: str | None, application: str | None,
    api_key: str | None, api_url: str | None,
) -> None:  # fmt: skip
    """Send a code to NUMBER; prints the OTP id that `botkit otp check` takes."""

    async def run() -> Any:
        async with tyntec_client(api_key, api_url) as api:
            method = cast(Literal["sms", "voice", "auto"], via)
            return await api.two_factor.otp.send(
                number, via=method, language=language, application_id=application
            )

    status = _call(run)
    click.echo(f"otp id: {status.otp_id} (status {status.otp_status}, to {status.number})")


@otp.command("check")
@click.argument("otp_id")
@click.argument("code")
@api_options()
def otp_check(otp_id: str, code: str, api_key: str | None, api_url: str | None) -> None:
    """Check CODE for OTP_ID; exits 1 unless it is valid."""

    async def run() -> Any:
        async with tyntec_client(api_key, api_url) as api:
            return await api.two_factor.otp.check(otp_id, code)

    check = _call(run)
    words = {
        "VALID": "valid: the number is verified",
        "WRONG_CODE": "wrong code",
        "EXHAUSTED": "expired or too many attempts",
        "NOT_FOUND": "no such OTP",
        "GONE": "no longer active (already verified or deleted)",
    }
    click.echo(words[check.outcome.name])
    if not check.valid:
        raise SystemExit(1)
