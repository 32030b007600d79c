"""What a Python action (``call: module:function``) gets: the conversation's variables, the
user, the message, the tyntec client, and a way to send messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..tyntec.models import MessageRequest
from .events import UserMessage

if TYPE_CHECKING:
    from ..tyntec import TyntecClient

__all__ = ["ActionContext", "User"]


@dataclass(frozen=True)
class User:
    """Who the conversation is with."""

    number: str
    name: str | None
    channel: str


@dataclass
class ActionContext:
    """Passed to every action. Change ``vars`` to set the conversation's variables; return an
    event name (or None) to have the state's ``on`` rules handle it.

    >>> async def lookup_order(ctx: ActionContext) -> str | None:
    ...     ctx.vars["status"] = "shipped"
    ...     ctx.send("Found it!")
    ...     return "found"
    """

    vars: dict[str, Any]
    user: User
    message: UserMessage | None
    flow: str
    state: str
    api: TyntecClient | None = None
    sent: list[str | MessageRequest | dict[str, Any]] = field(default_factory=list)

    def send(self, message: str | MessageRequest | dict[str, Any]) -> None:
        """Send a message after the action returns: text, a flow-style message mapping
        (``{"template": "x", "language": "en"}``), or a ready :class:`MessageRequest`. It goes
        out with the state's other messages, through the same outbox."""
        self.sent.append(message)
