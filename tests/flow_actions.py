"""Python actions used by the engine tests' flows."""

from __future__ import annotations

import threading

from botkit.flow import ActionContext, TemporaryFailure


async def classify(ctx: ActionContext) -> str | None:
    text = (ctx.message.text or "") if ctx.message else ""
    ctx.vars["calls"] = ctx.vars.get("calls", 0) + 1
    return "big" if text.isdigit() and int(text) > 100 else None


async def greet_and_report(ctx: ActionContext) -> str | None:
    ctx.send(f"Action says hi to {ctx.user.name} on {ctx.user.channel} in {ctx.state}")
    ctx.send({"template": "receipt", "language": "de", "params": ["1"]})
    return None


def blocking_lookup(ctx: ActionContext) -> str | None:
    # A plain function runs in a worker thread, not on the event loop.
    ctx.vars["thread"] = threading.current_thread() is threading.main_thread()
    return None


async def explode(ctx: ActionContext) -> str | None:
    raise RuntimeError("the order system is down")


async def return_number(ctx: ActionContext) -> int:
    return 42


#: Texts of the messages ``record_call`` ran for: an effect outside the conversation, as
#: a real action has (a CRM ticket, an e-mail), which must happen once per event.
CALLS: list[str] = []


async def record_call(ctx: ActionContext) -> str | None:
    CALLS.append((ctx.message.text or "") if ctx.message else "")
    return None


async def busy(ctx: ActionContext) -> str | None:
    raise TemporaryFailure("the order system is busy")


async def keep_a_set(ctx: ActionContext) -> str | None:
    ctx.vars["tags"] = {"vip", "new"}  # JSON has no sets: the store cannot keep it
    return None
