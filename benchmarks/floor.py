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


def settle_collector() -> None:
    """The collector as botkit/server/_collector.py sets it, once the app has loaded: what
    start-up made lives as long as the process, and a young generation of 10,000."""
    gc.freeze()
    gc.set_threshold(10_000, *gc.get_threshold()[1:])


def subject_arguments() -> argparse.ArgumentParser:
    """The command line every subject of run.py takes (each may add its own)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-url", required=True)
    return parser


def serve(application: web.Application, port: int) -> None:
    """Serve a subject on 127.0.0.1, on the event loop botkit uses, with no access log."""
    web.run_app(application, host="127.0.0.1", port=port, print=None, access_log=None,
                loop=new_event_loop())  # fmt: skip


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
    arguments = subject_arguments().parse_args()
    serve(app(arguments.api_url), arguments.port)
