"""The bot's HTTP side: the webhooks tyntec posts to, health and metrics, and the lifetime of
the workers behind them (processor, sender, timers).

A webhook answers 2xx only once the event is committed to the database; the work happens
after the answer, so tyntec never waits on a flow and never retries because of one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Literal

from aiohttp import web

from .._json import loads
from ..flow import Conversation, Engine, Flow
from ..store import NewEvent, OutboxMessage, Store, UnstorableEvent
from ..tyntec import TyntecClient
from ..tyntec.models import MessageStatus, parse_event
from ._problems import Reply, as_response, problem, problem_reply
from .intake import BadNotification, chat_notification, inbound_sms, refusal_event
from .ledger import StoreLedger
from .metrics import Metrics
from .operator import operator_refusal, start_conversation
from .processor import Processor
from .reload import FlowReloader
from .routing import Router
from .send_process import SendProcess
from .sender import Sender
from .timers import TimerLoop
from .watch import LoopGuard, Watchers, conversation_view, stream_messages

__all__ = ["DEFAULT_MAX_BODY", "BotServer", "Sending"]

log = logging.getLogger("botkit.server")

DEFAULT_MAX_BODY = 1024 * 1024
MIN_RETENTION_DAYS = 3
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: The answers to an accepted webhook and a duplicate, encoded once.
_ACCEPTED = Reply(200, b'{"accepted": true}')
_DUPLICATE = Reply(200, b'{"accepted": false, "duplicate": true}')
_UNAUTHORIZED = problem_reply(401, "Unauthorized", "a valid webhook token is required")
#: Where replies are sent from: this process, or a process of its own (see .send_process).
Sending = Literal["inline", "process"]


class BotServer:
    """Everything ``botkit serve`` runs.

    Replies are sent from this process by default; ``sending="process"`` sends them from a
    child process instead, on another core, as ``botkit serve`` does (see :mod:`.send_process`).

    >>> server = BotServer(flows, store, api, webhook_token="s3cret")  # doctest: +SKIP
    >>> web.run_app(server.app())  # doctest: +SKIP

    Keep aiohttp's default ``handler_cancellation=False``: a webhook handler cancelled while
    its event commits leaves the event stored but unprocessed until the next start.
    """

    #: Where tyntec posts: the Chat API's notifications and the Messaging API's inbound SMS.
    WEBHOOK_PATHS = frozenset({"/webhook", "/webhook/sms"})

    def __init__(
        self,
        flows: list[Flow],
        store: Store,
        api: TyntecClient,
        *,
        webhook_token: str | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        clock: Callable[[], float] = time.time,
        shutdown_timeout: float = 10.0,
        send_retry_delay: float = 1.0,
        retention_days: float | None = None,
        watch: list[Path] | None = None,
        api_token: str | None = None,
        sending: Sending = "inline",
    ) -> None:
        self.flows = flows
        self.store = store
        self.api = api
        self.clock = clock
        self.max_body = max_body
        self.shutdown_timeout = shutdown_timeout
        self._token = webhook_token
        self.api_token = api_token
        if retention_days is not None and retention_days < MIN_RETENTION_DAYS:
            raise ValueError(
                f"keep history at least {MIN_RETENTION_DAYS} days: tyntec retries a webhook for "
                "48 hours, and a retry is only recognised while its event is kept"
            )
        self.retention_days = retention_days
        self._pruning: asyncio.Task[None] | None = None
        self.router = Router(flows)
        self.metrics = Metrics()
        self.engine = Engine(flows, api, clock=clock)
        self.watchers = Watchers()
        self.loop_guard = LoopGuard()
        ledger = StoreLedger(
            store, self.metrics, clock=clock, on_sent=self._sent, on_refused=self._refused
        )
        self.sender: Sender | SendProcess = (
            SendProcess(ledger, api, base_delay=send_retry_delay)
            if sending == "process"
            else Sender(api, ledger, clock=clock, base_delay=send_retry_delay)
        )
        self.processor = Processor(
            store, self.engine, self.metrics, on_turn=self._after_turn, clock=clock,
            # The sending process takes a turn's messages at its commit; the sender in this
            # process sends them from the turn's task, after (see Sender.deliver).
            hand_over=self.sender.hand_over if isinstance(self.sender, SendProcess) else None,
        )  # fmt: skip
        self.timers = TimerLoop(store, self.processor.submit, clock=clock)
        self.reloader = (
            FlowReloader(watch, self.replace_flows, lambda: list(self.engine.flows.values()))
            if watch
            else None
        )
        self.ready = False
        self._running = False
        self._trying_write: asyncio.Future[None] | None = None

    def app(self) -> web.Application:
        app = web.Application(
            client_max_size=self.max_body, middlewares=[self._problems, self._authenticate]
        )
        # botkit's front (.site.BotSite) serves these itself; they answer when the app is
        # served alone, and the requests the front relays to it.
        app.router.add_post("/webhook", self.chat_webhook)
        app.router.add_post("/webhook/sms", self.sms_webhook)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/metrics", self.metrics_endpoint)
        app.router.add_post("/conversations", self.start_conversation)
        app.router.add_get("/conversations/{user}", self.conversation)
        app.router.add_get("/conversations/{user}/messages", self.follow_messages)
        app.cleanup_ctx.append(self._lifetime)
        return app

    async def _lifetime(self, app: web.Application) -> AsyncIterator[None]:
        await self.start()
        yield
        await self.stop()

    async def start(self) -> None:
        """Open the store and the client; pick up work left by the last run."""
        await self.store.open()
        await self.api.open()
        await self.processor.start()
        await self.sender.start()
        self.sender.submit(await self.store.pending_outbox())  # what the last run left unsent
        self.timers.start()
        if self.reloader is not None:
            self.reloader.start()
        if self.retention_days is not None:
            self._pruning = asyncio.get_running_loop().create_task(self._prune_forever())
        self._running = self.ready = True
        # Not "ready": `botkit serve` binds its port after this, and may fail to.
        log.info("botkit server started: flows %s", ", ".join(f.name for f in self.flows))

    async def stop(self) -> None:
        """Finish what is in flight and send what is due, within ``shutdown_timeout``."""
        if not self._running:
            return
        self._running = self.ready = False
        if self._pruning is not None:
            self._pruning.cancel()
            await asyncio.gather(self._pruning, return_exceptions=True)
        deadline = self.clock() + self.shutdown_timeout
        if self.reloader is not None:
            await self.reloader.stop()
        await self.timers.stop()
        await self.processor.workers.close(max(0.0, deadline - self.clock()))
        await self.sender.flush(max(0.0, deadline - self.clock()))
        await self.sender.close(max(0.0, deadline - self.clock()))
        await self.api.close()
        await self.store.close()
        log.info("botkit server stopped")

    def replace_flows(self, flows: list[Flow]) -> None:
        """Serve new versions of flows from the next event on (see :mod:`.reload`)."""
        for flow in flows:
            self.engine.replace_flow(flow)
        self.flows = list(self.engine.flows.values())
        self.router = Router(self.flows)

    async def prune(self) -> int:
        """Forget history, events and messages older than the retention period."""
        if self.retention_days is None:
            return 0
        removed = await self.store.prune(self.clock() - self.retention_days * 86400)
        if removed:
            log.info("retention: removed %d old rows", removed)
        return removed

    async def _prune_forever(self) -> None:
        while True:
            try:
                await self.prune()
            except Exception:
                log.exception("pruning old history failed")
            await asyncio.sleep(3600)

    async def _after_turn(
        self, conversation: Conversation | None, queued: list[OutboxMessage]
    ) -> None:
        if conversation is not None and conversation.timeout_at is not None:
            self.timers.deadline_set(conversation.timeout_at)
        await self.sender.deliver(queued)

    # -- middlewares ------------------------------------------------------------------------

    @web.middleware
    async def _problems(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPRequestEntityTooLarge:
            self.metrics.count("botkit_events_rejected_total", reason="too_large")
            return problem(413, "Payload Too Large", f"bodies are limited to {self.max_body} bytes")
        except web.HTTPNotFound:
            return problem(404, "Not Found", f"no such endpoint: {request.path}")
        except web.HTTPMethodNotAllowed:
            return problem(405, "Method Not Allowed", f"{request.method} is not allowed here")
        except web.HTTPException:
            raise
        except Exception:  # a bug: answered as a problem too, and the server goes on
            log.exception("%s %s failed", request.method, request.path)
            return problem(500, "Internal Server Error", "the server failed; see its log")

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/webhook"):
            return await handler(request)
        given = request.query.get("token", "")
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            given = header.removeprefix("Bearer ").strip()
        if self.webhook_authorized(given):
            return await handler(request)
        return as_response(_UNAUTHORIZED)

    def count_refusal(self, status: int) -> None:
        """Count a webhook the front refused before reading it whole (:mod:`.front`)."""
        reason = {413: "too_large", 431: "too_large"}.get(status, "malformed")
        self.metrics.count("botkit_events_rejected_total", reason=reason)

    def webhook_authorized(self, given: str) -> bool:
        """Whether a webhook came with the token (any, when the server has none)."""
        if self._token is None or secrets.compare_digest(given.encode(), self._token.encode()):
            return True
        self.metrics.count("botkit_events_rejected_total", reason="unauthorized")
        return False

    # -- endpoints --------------------------------------------------------------------------

    async def chat_webhook(self, request: web.Request) -> web.StreamResponse:
        """Chat API notifications: MoMessage, MessageStatus::*, WhatsAppGroupEvent::*."""
        return await self._intake(request, self._chat_event)

    async def sms_webhook(self, request: web.Request) -> web.StreamResponse:
        """Inbound SMS of the Messaging API."""
        return await self._intake(request, self._sms_event)

    def _chat_event(self, body: Any) -> NewEvent:
        # The flows are read per event: a reload may add or remove some.
        return chat_notification(body, self.router, self.engine.flows)

    def _sms_event(self, body: Any) -> NewEvent:
        return inbound_sms(body, self.router)

    async def take_webhook_request(self, path: str, token: str, body: bytes) -> Reply:
        """A request to one of :attr:`WEBHOOK_PATHS` as botkit's front (:mod:`.front`) reads
        it: the token it came with (``""`` for none) checked, then :meth:`take_webhook`."""
        if not self.webhook_authorized(token):
            return _UNAUTHORIZED
        return await self.take_webhook(
            body, self._chat_event if path == "/webhook" else self._sms_event
        )

    async def _intake(
        self, request: web.Request, to_event: Callable[[Any], NewEvent]
    ) -> web.StreamResponse:
        reply = await self.take_webhook(await request.read(), to_event)
        return as_response(reply)

    async def take_webhook(self, raw: bytes, to_event: Callable[[Any], NewEvent]) -> Reply:
        """A webhook's body made an event and stored; the answer to give once it is."""
        if not self.ready:
            return problem_reply(503, "Service Unavailable", "the bot is starting or stopping")
        try:
            body = loads(raw)
        except ValueError as exc:
            self.metrics.count("botkit_events_rejected_total", reason="invalid_json")
            return problem_reply(400, "Invalid JSON", f"the body is not JSON: {exc}")
        try:
            event = to_event(body)
        except BadNotification as exc:
            self.metrics.count("botkit_events_rejected_total", reason="invalid")
            return problem_reply(400, "Invalid notification", exc.detail, errors=exc.errors)
        if event.kind == "message" and self.loop_guard.is_echo_of_ours(event.payload["messageId"]):
            # Our own message came back as a user's: record it, answer nothing.
            log.warning("loop guard: message %s is one the bot sent; not answered",
                        event.payload["messageId"])  # fmt: skip
            self.metrics.count("botkit_loops_stopped_total")
            event = NewEvent(f"loop:{event.dedupe_key}", "loop", event.payload)
        try:
            if event.flow is not None and event.user is not None:
                stored = await self.processor.receive(event)  # queued, or its turn done
            else:
                (stored,) = await self.store.accept([event], now=self.clock())
        except UnstorableEvent as error:  # sending it again cannot help
            self.metrics.count("botkit_events_rejected_total", reason="invalid")
            return problem_reply(400, "Invalid notification", str(error))
        except Exception as error:  # not stored, so not accepted: tyntec sends it again
            if self.store.failure is not None:  # the database's trouble: one line each
                log.error("storing a %s event failed: %s; answered 503, to be sent again",
                          event.kind, error)  # fmt: skip
            else:
                log.exception("storing a %s event failed", event.kind)
            self.metrics.count("botkit_events_rejected_total", reason="store")
            return problem_reply(
                503, "Service Unavailable", "the event could not be stored; send it again later"
            )
        if stored is None and event.flow is not None:
            self.metrics.count("botkit_events_duplicate_total")
            return _DUPLICATE
        self.metrics.count("botkit_events_received_total", kind=event.kind)
        if event.kind in ("status", "delivery"):
            await self._record_status(event)
        return _ACCEPTED

    async def _record_status(self, event: NewEvent) -> None:
        status = event.parsed if event.parsed is not None else parse_event(event.payload)
        if isinstance(status, MessageStatus):
            await self.store.record_delivery(status.message_id, status.kind, now=self.clock())

    async def start_conversation(self, request: web.Request) -> web.StreamResponse:
        """``POST /conversations``: start a flow for a user (see :mod:`.operator`)."""
        if not self.ready:
            return problem(503, "Service Unavailable", "the bot is starting or stopping")
        return await start_conversation(self, request)

    async def conversation(self, request: web.Request) -> web.StreamResponse:
        """``GET /conversations/{user}``: the user's conversations (operator API)."""
        refused = operator_refusal(self, request)
        return refused or await conversation_view(request, self.store)

    async def follow_messages(self, request: web.Request) -> web.StreamResponse:
        """``GET /conversations/{user}/messages``: an SSE stream of the bot's messages."""
        refused = operator_refusal(self, request)
        return refused or await stream_messages(request, self.watchers)

    def _sent(self, message: OutboxMessage, message_id: str) -> None:
        self.loop_guard.sent(message_id)
        self.watchers.publish(message, message_id)

    async def _refused(self, message: OutboxMessage, error: str) -> None:
        # A refusal is the flow's `undelivered` too: "could not be delivered" is what the
        # state's rule is for (a fallback to SMS, a person to call), whatever said so.
        event = refusal_event(message, error)
        if event is not None and event.flow in self.engine.flows:
            await self.processor.receive_own(event)

    async def healthz(self, request: web.Request) -> web.StreamResponse:
        if not self.ready:
            return web.json_response({"status": "unavailable"}, status=503)
        failure = self.store.failure
        if failure is not None:
            # A write found the failure, and only a write finds the recovery: events may
            # not come (tyntec waits between its tries, and a proxy that checks readiness
            # sends none to a failing bot), so this check makes one.
            with contextlib.suppress(Exception):
                await self._try_write()
            failure = self.store.failure
        if failure is not None:  # every event is answered 503: send them elsewhere
            since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(failure.since))
            return web.json_response(
                {"status": "failing", "reason": f"the database takes no writes: {failure.reason}",
                 "since": since},
                status=503,
            )  # fmt: skip
        return web.json_response({"status": "ok", "flows": [f.name for f in self.flows]})

    async def _try_write(self) -> None:
        """One write at a time however many health checks come (a check that comes while
        one is made waits for it)."""
        if self._trying_write is None or self._trying_write.done():
            self._trying_write = asyncio.ensure_future(self.store.try_write())
        await asyncio.shield(self._trying_write)

    async def metrics_endpoint(self, request: web.Request) -> web.StreamResponse:
        stats = await self.store.stats()
        text = self.metrics.render(
            [
                ("botkit_active_conversations", stats.active_conversations),
                ("botkit_inbox_pending", stats.inbox_pending),
                ("botkit_outbox_pending", stats.outbox_pending),
                ("botkit_store_failing", int(self.store.failure is not None)),
            ]
        )
        return web.Response(text=text, content_type="text/plain", charset="utf-8")
