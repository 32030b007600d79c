"""The floor: the least any bot must do per webhook event. Parse the JSON, make one POST to
the (fake) Chat API with a reply, answer 200. No state, no durability, no flow.

It runs on the stack botkit runs on (uvloop and orjson when installed, the garbage collector
set as botkit/server/_collector.py sets it) but imports nothing of botkit, so that its
memory is the bare app's."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
from typing import Any

import aiohttp
from aiohttp import web

try:
    import orjson
except ImportError:  # the speed extra is not installed
    orjson = None


def loads(data: bytes) -> Any:
    return orjson.loads(data) if orjson is not None else json.loads(data)


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode() if orjson is not None else json.dumps(value)


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # the speed extra is not installed
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def app(api_url: str) -> web.Application:
    application = web.Application()

    async def session_context(app: web.Application):  # type: ignore[no-untyped-def]
        app["session"] = aiohttp.ClientSession(headers={"apikey": "bench"}, json_serialize=dumps)
        gc.freeze()
        gc.set_threshold(10_000, *gc.get_threshold()[1:])
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
    web.run_app(app(arguments.api_url), host="127.0.0.1", port=arguments.port, print=None,
                access_log=None, loop=new_event_loop())  # fmt: skip
