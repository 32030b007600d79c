"""A complete bot in one file, run against botkit's embedded tyntec sandbox: no account needed.

    python examples/echo_bot.py

Type a line and press Enter: the sandbox delivers it to the bot's webhook as a WhatsApp
MoMessage, and the bot answers through the Chat API. The same webhook handler and client
calls work against tyntec itself with a real API key and base URL.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from aiohttp import web

from botkit import TyntecClient, messages
from botkit.sandbox import Sandbox
from botkit.tyntec.models import MoMessage, parse_event

USER = "+491701234567"


def bot_app(api: TyntecClient) -> web.Application:
    """The bot: answer every text message by echoing it."""
    pending: set[asyncio.Task[None]] = set()

    async def reply(message: MoMessage) -> None:
        text = message.content.text or f"a {message.content.content_type}"
        request = messages.text(
            message.from_, f"You said: {text}", channels=message.channel, from_=message.to
        )
        await api.chat.send(request)
        print(f"bot : You said: {text}", flush=True)

    async def webhook(request: web.Request) -> web.Response:
        event = parse_event(await request.json())
        if isinstance(event, MoMessage):
            # Answer tyntec at once; the reply is sent in the background.
            task = asyncio.create_task(reply(event))
            pending.add(task)
            task.add_done_callback(pending.discard)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    return app


async def main(bot_port: int, sandbox_port: int) -> None:
    sandbox = Sandbox(webhook_url=f"http://127.0.0.1:{bot_port}/webhook")
    async with TyntecClient(api_key="sandbox", base_url=f"http://127.0.0.1:{sandbox_port}") as api:
        runners = [web.AppRunner(sandbox.app()), web.AppRunner(bot_app(api))]
        for runner, port in zip(runners, (sandbox_port, bot_port), strict=True):
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
        print(f"Echo bot on :{bot_port}, sandbox on :{sandbox_port}. Type a message (Ctrl-D ends).")
        loop = asyncio.get_running_loop()
        try:
            while line := await loop.run_in_executor(None, sys.stdin.readline):
                if line.strip():
                    await sandbox.user_says(USER, text=line.strip(), name="You")
                    await sandbox.idle()
            await asyncio.sleep(0.2)  # let the last reply go out
        finally:
            for runner in runners:
                await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bot-port", type=int, default=8080)
    parser.add_argument("--sandbox-port", type=int, default=8081)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.bot_port, arguments.sandbox_port))
