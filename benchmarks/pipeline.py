"""The reference pipeline the issue quotes: aiohttp + aiosqlite + transitions, with a cache of
hot conversations and batched commits. It answers the benchmark's users as botkit does (the
same five replies per four events) with the least machinery that still keeps state:

- per event: the conversation from the cache, or from SQLite when it is not there; one
  transitions trigger; its row queued for the next commit; the webhook answered 200 once
  that commit is done; the replies posted after it, one after the other;
- one writer task commits everything queued while the last commit ran (WAL, synchronous
  FULL unless ``--durability normal``), through aiosqlite;
- no inbox (a webhook delivered twice runs its turn twice), no outbox (a reply not yet
  posted when the process dies is lost), no checks of the payloads, no log lines, no flow
  file: the flow is written out below, in Python.

So it shows what the machine can do for a stateful, durable bot without botkit's
guarantees, which is what botkit's cost per event is to be weighed against. Like the floor,
it runs on botkit's stack (uvloop, orjson, the collector's settings) without importing
botkit.
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import aiosqlite
from aiohttp import web
from floor import dumps, loads, serve, settle_collector, subject_arguments
from transitions import Machine

ACCOUNT = "4930123456"
GREETING = "Hi {name}! Reply 1 for your order status."
MENU_AGAIN = "Reply 1 for your order status."
ASK_ORDER = "What's your order number? (6 digits)"
RETRY_ORDER = "Order numbers have 6 digits, like 123456."
ORDER_NUMBER = re.compile(r"^\d{6}$")
CACHED = 10_000  # hot conversations kept in memory, as botkit's default


@dataclass
class Conversation:
    """A user's place in the flow, as cached and stored."""

    user: str
    name: str
    state: str = "welcome"
    order: str | None = None


class Turn:
    """The flow's one transitions model: a turn puts a conversation in it, triggers, and
    reads the state back (the pipeline's turns never wait in between). botkit does the
    same with a small pool; ``add_model`` per conversation costs more than the turn, and
    ``remove_model`` grows with the models attached."""

    state: str

    def __init__(self) -> None:
        self.conversation = Conversation("", "")
        self.replies: list[dict[str, Any]] = []

    def say(self, text: str) -> None:
        self.replies.append({"to": self.conversation.user, "channels": ["whatsapp"],
                             "whatsapp": {"from": ACCOUNT, "contentType": "text",
                                          "text": text}})  # fmt: skip

    def say_template(self) -> None:
        template = {"templateId": "order_status", "templateLanguage": "en",
                    "components": {"body": [{"type": "text", "text": self.conversation.order},
                                            {"type": "text", "text": "shipped"}]}}  # fmt: skip
        self.replies.append({"to": self.conversation.user, "channels": ["whatsapp"],
                             "whatsapp": {"from": ACCOUNT, "contentType": "template",
                                          "template": template}})  # fmt: skip

    # transitions' callbacks: what each state says on entry, and the guards
    def on_enter_welcome(self, text: str = "") -> None:
        self.say(GREETING.format(name=self.conversation.name or "there"))

    def on_enter_ask_order(self, text: str) -> None:
        self.say(ASK_ORDER)

    def on_enter_order_status(self, text: str) -> None:
        self.conversation.order = text
        self.say_template()

    def is_menu_choice(self, text: str) -> bool:
        return text.strip().lower() in ("1", "order")

    def is_order_number(self, text: str) -> bool:
        return ORDER_NUMBER.match(text) is not None


def flow_machine(turn: Turn) -> Machine:
    """One machine for every conversation, with ``turn`` its only model."""
    return Machine(
        model=turn,
        states=["welcome", "ask_order", "order_status"],
        transitions=[
            {
                "trigger": "message",
                "source": "welcome",
                "dest": "ask_order",
                "conditions": "is_menu_choice",
            },
            {
                "trigger": "message",
                "source": "ask_order",
                "dest": "order_status",
                "conditions": "is_order_number",
            },
            {"trigger": "done", "source": "order_status", "dest": "welcome"},
        ],
        initial="welcome",
        auto_transitions=False,
    )


class Pipeline:
    """The webhook handler, the cache and the writer task of one server. A turn changes the
    cached conversation before its commit (a failed commit leaves the cache ahead of the
    database): one of the guarantees left out."""

    def __init__(self, db_path: Path, api_url: str, synchronous: str) -> None:
        self.db_path = db_path
        self.api_url = f"{api_url}/chat-api/v2/messages"
        self.synchronous = synchronous
        self.turn_model = Turn()
        self.machine = flow_machine(self.turn_model)
        self.cache: OrderedDict[str, Conversation] = OrderedDict()
        self.queued: list[tuple[tuple[Any, ...], asyncio.Future[None]]] = []
        self.wake = asyncio.Event()
        self.sending: set[asyncio.Task[None]] = set()

    async def context(self, app: web.Application) -> AsyncIterator[None]:
        self.db = await aiosqlite.connect(self.db_path)
        await self.db.execute("PRAGMA journal_mode=WAL")
        await self.db.execute(f"PRAGMA synchronous={self.synchronous}")
        await self.db.execute(
            "CREATE TABLE IF NOT EXISTS conversations "
            "(user TEXT PRIMARY KEY, state TEXT NOT NULL, data TEXT NOT NULL)"
        )
        await self.db.commit()
        self.session = aiohttp.ClientSession(headers={"apikey": "bench"}, json_serialize=dumps)
        writer = asyncio.create_task(self.write())
        settle_collector()
        yield
        writer.cancel()
        await self.session.close()
        await self.db.close()

    async def conversation(self, user: str, name: str) -> tuple[Conversation, bool]:
        """The user's conversation, and whether it is new."""
        conversation = self.cache.get(user)
        if conversation is not None:
            self.cache.move_to_end(user)
            return conversation, False
        rows = await self.db.execute_fetchall(
            "SELECT state, data FROM conversations WHERE user = ?", (user,)
        )
        conversation = self.cache.get(user)  # another event of the user loaded it meanwhile
        if conversation is not None:
            return conversation, False
        if rows:
            state, data = next(iter(rows))
            conversation = Conversation(user, name, state, loads(data).get("order"))
        else:
            conversation = Conversation(user, name)
        self.cache[user] = conversation
        if len(self.cache) > CACHED:
            self.cache.popitem(last=False)
        return conversation, not rows

    def turn(self, conversation: Conversation, text: str, new: bool) -> list[dict[str, Any]]:
        turn = self.turn_model
        turn.conversation = conversation
        self.machine.set_state(conversation.state, model=turn)
        if new:  # a user's first message starts the flow: the greeting, nothing matched
            turn.on_enter_welcome()
        elif not turn.message(text):  # type: ignore[attr-defined]
            # no transition's guard passed: the menu again, or the ask's retry
            turn.say(MENU_AGAIN if turn.state == "welcome" else RETRY_ORDER)
        if turn.state == "order_status":
            turn.done()  # type: ignore[attr-defined]
        conversation.state = turn.state
        replies, turn.replies = turn.replies, []
        return replies

    async def webhook(self, request: web.Request) -> web.Response:
        event = loads(await request.read())
        user = event["from"]
        name = (event.get("whatsapp") or {}).get("senderName", "")
        conversation, new = await self.conversation(user, name)
        replies = self.turn(conversation, event["content"].get("text", ""), new)
        row = (user, conversation.state, dumps({"order": conversation.order}))
        committed = asyncio.get_running_loop().create_future()
        self.queued.append((row, committed))
        self.wake.set()
        await committed
        task = asyncio.create_task(self.send(replies))
        self.sending.add(task)
        task.add_done_callback(self.sending.discard)
        return web.Response(status=200)

    async def send(self, replies: list[dict[str, Any]]) -> None:
        for reply in replies:
            async with self.session.post(self.api_url, json=reply) as response:
                await response.read()

    async def write(self) -> None:
        """Commit everything queued while the last commit ran, in one transaction."""
        while True:
            await self.wake.wait()
            self.wake.clear()
            batch, self.queued = self.queued, []
            try:
                await self.db.executemany(
                    "INSERT INTO conversations (user, state, data) VALUES (?, ?, ?) "
                    "ON CONFLICT (user) DO UPDATE SET state = excluded.state, "
                    "data = excluded.data",
                    [row for row, _ in batch],
                )
                await self.db.commit()
            except Exception as error:  # the webhooks answer 500, and the sender retries
                for _, committed in batch:
                    committed.set_exception(error)
            else:
                for _, committed in batch:
                    committed.set_result(None)


def app(db_path: Path, api_url: str, synchronous: str) -> web.Application:
    pipeline = Pipeline(db_path, api_url, synchronous)
    application = web.Application()
    application.cleanup_ctx.append(pipeline.context)
    application.router.add_post("/webhook", pipeline.webhook)
    application.router.add_get("/ready", ready)
    return application


async def ready(request: web.Request) -> web.Response:
    return web.Response(text="ok")


if __name__ == "__main__":
    parser = subject_arguments()
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--durability", choices=["full", "normal"], default="full")
    arguments = parser.parse_args()
    serve(app(arguments.db, arguments.api_url, arguments.durability.upper()), arguments.port)
