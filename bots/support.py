"""Python actions of the support flow (flows/support.yaml)."""

from __future__ import annotations

from botkit.flow import ActionContext

# A stand-in for an order system: the flow asks for a number, the action looks it up.
_ORDERS = {"123456": "shipped", "654321": "being packed"}


async def lookup_order(ctx: ActionContext) -> str | None:
    """Set ``vars.status`` to the order's status (``unknown`` for numbers we do not have)."""
    ctx.vars["status"] = _ORDERS.get(str(ctx.vars["order"]), "unknown")
    return None
