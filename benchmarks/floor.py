"""The floor: the least any bot must do per webhook event. Parse the JSON, make one POST to
the (fake) Chat API with a reply, answer 200. No state, no durability, no flow. It runs on
the stack botkit runs on (uvloop and orjson when installed; benchmarks/_stack.py)."""

from __future__ import annotations

import argparse
import asyncio

import aiohttp
from _stack import dumps, event_loop_factory, loads, settle_collector
from aiohttp import web


def app(api_url: str) -> web.Application:
    application = web.Application()

    async def session_context(app: web.Application):  # type: ignore[no-untyped-def]
        app["session"] = aiohttp.ClientSession(headers={"apikey": "bench"}, json_serialize=dumps)
        settle_collector()
        yield
        await app["session"].close()

    async def webhook(request: web.Request) -> web.Response:
        event = loads(await request.read())
        reply = {
            "to": event["from"],
            "channels": ["whatsapp"],
            "whatsapp": {"from": event.get("to") or "4930123456", "contentType": "text",
                         "text": "ok"},
        }  # fmt: skip
        async with request.app["session"].post(f"{api_url}/chat-api/v2/messages", json=reply) as r:
            await r.read()
        return web.Response(status=200)

    application.cleanup_ctx.append(session_context)
    application.router.add_post("/webhook", webhook)
    application.router.add_get("/ready", lambda request: web.Response(text="ok"))
    return application


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-url", required=True)
    arguments = parser.parse_args()
    loop: asyncio.AbstractEventLoop = event_loop_factory()()
    web.run_app(app(arguments.api_url), host="127.0.0.1", port=arguments.port, print=None,
                access_log=None, loop=loop)  # fmt: skip
