"""Python actions of the support flow (flows/support.yaml)."""

from __future__ import annotations

from botkit.flow import ActionContext

# A stand-in for an order system: the flow asks for a number, the action looks it up.
_ORDERS = {"123456": "shipped", "654321": "being packed"}
# The number that plays an order system that does not answer, to show the flow's on_error.
UNREACHABLE = "999999"


async def lookup_order(ctx: ActionContext) -> str | None:
    """Set ``vars.status`` to the order's status (``unknown`` for numbers we do not have)."""
    order = str(ctx.vars["order"])
    if order == UNREACHABLE:
        raise ConnectionError("the order system did not answer")
    ctx.vars["status"] = _ORDERS.get(order, "unknown")
    return None
