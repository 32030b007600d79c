"""Following a conversation from outside: what the bot sends, as it sends it, and a loop
guard for the tyntecEcho channel.

``GET /conversations/{user}/messages`` is a server-sent-events stream of the bot's messages
to one user (what ``botkit echo-chat`` and ``botkit test --remote`` read, and what a web page
could show); ``GET /conversations/{user}`` is the user's conversations (state, variables).
Both take the operator API's token.

The loop guard: a tyntecEcho message the bot sent that comes back to the webhook as a
user's message (replyBack set where it should not be, an echo account pointing at the bot)
would be answered, and the answer echoed again, forever. Every message id the bot sent is
remembered (the last 50,000); an inbound message with one of them is recorded, logged and
not answered.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import Any

from aiohttp import web

from .._json import dumps
from ..flow.outgoing import first_part
from ..store import OutboxMessage, Store
from ._problems import problem

__all__ = ["LoopGuard", "Watchers", "conversation_view", "stream_messages"]

log = logging.getLogger("botkit.server")


class LoopGuard:
    """Remembers the message ids the bot sent, to recognise them coming back."""

    def __init__(self, size: int = 50_000) -> None:
        self.size = size
        self._sent: OrderedDict[str, None] = OrderedDict()

    def sent(self, message_id: str) -> None:
        self._sent[message_id] = None
        if len(self._sent) > self.size:
            self._sent.popitem(last=False)

    def is_echo_of_ours(self, message_id: str) -> bool:
        return message_id in self._sent


#: Messages a follower may fall behind by before its stream is ended: one that stopped
#: reading (a stalled client) must not grow the server's memory with every message.
FOLLOWER_BACKLOG = 1000
#: Put in a follower's queue, instead of the message that did not fit, to end its stream.
LAGGED: dict[str, Any] = {"lagged": True}


class Watchers:
    """Who follows which user's messages; each follower has a queue."""

    def __init__(self, backlog: int = FOLLOWER_BACKLOG) -> None:
        self.backlog = backlog
        self._queues: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {}

    def publish(self, message: OutboxMessage, message_id: str) -> None:
        queues = self._queues.get(message.user)
        if not queues:
            return
        content = first_part(message.request)
        entry = {
            "flow": message.flow,
            "user": message.user,
            "messageId": message_id,
            "channel": message.request["channels"][0],
            "contentType": content.get("contentType"),
            "payload": message.request,
        }
        for queue in list(queues):
            if queue.qsize() < self.backlog - 1:
                queue.put_nowait(entry)
            else:  # the last place is for the end: the stream is closed, its client follows anew
                queue.put_nowait(LAGGED)
                self.leave(message.user, queue)

    def followers(self, user: str) -> int:
        """How many streams follow ``user``'s messages now."""
        return len(self._queues.get(user, ()))

    def follow(self, user: str) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self.backlog)
        self._queues.setdefault(user, set()).add(queue)
        return queue

    def leave(self, user: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        followers = self._queues.get(user)
        if followers is not None:
            followers.discard(queue)
            if not followers:
                del self._queues[user]


async def stream_messages(
    request: web.Request, watchers: Watchers, *, heartbeat: float = 15.0
) -> web.StreamResponse:
    """An SSE stream of the bot's messages to ``{user}``, from now on."""
    user = "".join(ch for ch in request.match_info["user"] if ch.isdigit())
    if not user:
        return problem(400, "Bad Request", "the user is a phone number")
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    queue = watchers.follow(user)
    try:
        await response.write(b": following " + user.encode() + b"\n\n")
        while True:
            try:
                entry = await asyncio.wait_for(queue.get(), heartbeat)
            except TimeoutError:
                await response.write(b": still here\n\n")  # keeps proxies from closing it
                continue
            if entry is LAGGED:
                await response.write(b": too far behind; the stream ends, follow again\n\n")
                break
            await response.write(f"event: message\ndata: {dumps(entry)}\n\n".encode())
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        watchers.leave(user, queue)
    return response


async def conversation_view(request: web.Request, store: Store) -> web.StreamResponse:
    """The user's conversations: flow, state, variables, whether ended."""
    user = "".join(ch for ch in request.match_info["user"] if ch.isdigit())
    if not user:
        return problem(400, "Bad Request", "the user is a phone number")
    found = await store.conversations(user=user, flow=request.query.get("flow"))
    return web.json_response(
        [
            {"flow": c.flow, "user": c.user, "state": c.state, "ended": c.ended, "vars": c.vars}
            for c in found
        ]
    )
