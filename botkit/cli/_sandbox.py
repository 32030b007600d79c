"""``botkit sandbox``: run the embedded tyntec sandbox as its own server."""

from __future__ import annotations

import logging

import click
from aiohttp import web

from ..sandbox import DEFAULT_API_KEY, Sandbox

__all__ = ["sandbox"]


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8081, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--webhook",
    "webhook_url",
    envvar="BOTKIT_SANDBOX_WEBHOOK",
    help="Where Chat API notifications go (the bot's webhook URL).",
)
@click.option("--sms-webhook", "sms_webhook_url", help="Where inbound SMS (Messaging API) go.")
@click.option(
    "--api-key",
    default=DEFAULT_API_KEY,
    show_default=True,
    envvar="BOTKIT_SANDBOX_API_KEY",
    help="The apikey header the sandbox accepts.",
)
def sandbox(
    host: str, port: int, webhook_url: str | None, sms_webhook_url: str | None, api_key: str
) -> None:
    """Run the embedded tyntec sandbox (Chat, 2FA, Messaging and NIS APIs).

    Point a client at it with TYNTEC_API_URL=http://HOST:PORT and TYNTEC_API_KEY=API_KEY.
    OTP codes it 'sends' are logged and listed at GET /sandbox/otps; POST /sandbox/inbound
    plays a user writing to the bot.
    """
    if logging.getLogger().level > logging.INFO:
        logging.getLogger().setLevel(logging.INFO)  # the OTP codes are shown at INFO
    stand_in = Sandbox(api_key=api_key, webhook_url=webhook_url, sms_webhook_url=sms_webhook_url)
    click.echo(f"botkit sandbox on http://{host}:{port} (apikey: {_masked(api_key)})")
    click.echo(f"notifications go to {webhook_url or '(no webhook set: use --webhook URL)'}")
    web.run_app(stand_in.app(), host=host, port=port, print=None)


def _masked(key: str) -> str:
    # The default key is public and worth showing; a real one is not.
    return key if key == DEFAULT_API_KEY else "***"
