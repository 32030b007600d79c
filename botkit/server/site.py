"""``BotSite``: aiohttp's ``TCPSite`` for a :class:`~botkit.server.BotServer`, with the
webhooks on botkit's own front (:mod:`.front`) and every other request on aiohttp's server."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiohttp import web

from .front import KEEPALIVE_TIMEOUT, WebhookFront

if TYPE_CHECKING:
    from .app import BotServer

__all__ = ["BotSite"]


class BotSite(web.BaseSite):
    """aiohttp's ``TCPSite`` for a :class:`~botkit.server.BotServer`'s application: the
    webhooks on botkit's own front, every other request on aiohttp's server.

    >>> runner = web.AppRunner(server.app(), access_log=None)  # doctest: +SKIP
    >>> await runner.setup()  # doctest: +SKIP
    >>> await BotSite(runner, server, "127.0.0.1", 8080).start()  # doctest: +SKIP
    >>> ...  # doctest: +SKIP
    >>> await runner.cleanup()  # stops the site, then the server  # doctest: +SKIP
    """

    __slots__ = ("_front", "_host", "_port", "_shutdown_timeout")

    def __init__(
        self,
        runner: web.BaseRunner,
        bot: BotServer,
        host: str | None = None,
        port: int = 8080,
        *,
        backlog: int = 128,
        keepalive_timeout: float = KEEPALIVE_TIMEOUT,
    ) -> None:
        super().__init__(runner, backlog=backlog)
        assert runner.server is not None  # BaseSite checked it
        self._host, self._port = host, port
        self._shutdown_timeout = bot.shutdown_timeout
        self._front = WebhookFront(
            bot.take_webhook_request, runner.server, paths=bot.WEBHOOK_PATHS,
            max_body=bot.max_body, keepalive_timeout=keepalive_timeout,
            on_refusal=bot.count_refusal,
        )  # fmt: skip

    @property
    def name(self) -> str:
        return f"http://{self._host or '0.0.0.0'}:{self.port}"

    @property
    def port(self) -> int:
        """The port listened on (the one bound, after ``port=0``)."""
        if self._server is not None and self._server.sockets:  # type: ignore[attr-defined]
            return int(self._server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]
        return self._port

    async def start(self) -> None:
        await super().start()
        self._server = await asyncio.get_running_loop().create_server(
            self._front, self._host, self._port, backlog=self._backlog
        )

    async def stop(self) -> None:
        """Stop accepting, then let the webhooks in flight be answered (``shutdown_timeout``
        of the server) before the runner stops the server behind them."""
        if self._server is not None:
            self._server.close()
        await self._front.close(self._shutdown_timeout)
        await super().stop()
