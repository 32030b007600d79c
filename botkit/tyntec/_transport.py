"""HTTP transport of the tyntec client: keep-alive connections, auth header, timeouts, retries,
errors.

Every API module (chat, 2FA, messaging, NIS) goes through :meth:`Transport.request`, so the
policies live in one place: the API key is sent as the ``apikey`` header and never logged,
each try has a timeout, failures are retried by the :class:`RetryPolicy`, and error answers
become the typed exceptions of :mod:`botkit.tyntec._errors`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

from .. import __version__
from .._json import dumps, loads
from ._connections import Answer, CannotConnect, ConnectionPool, ExchangeFailed
from ._errors import (
    APIError,
    ConnectError,
    RequestTimeout,
    TransportError,
    TyntecError,
    error_for_status,
)
from ._proxy import environment_proxy, shown
from ._retry import RetryPolicy
from .models.problem import Problem

__all__ = ["Response", "Transport"]

log = logging.getLogger("botkit.tyntec")

USER_AGENT = f"botkit/{__version__}"

Params = Mapping[str, str | int | float | bool | None]


@dataclass(frozen=True, slots=True)
class Response:
    """An HTTP answer from tyntec, read in full."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON; ``None`` for an empty body (204, or a bare 202)."""
        if not self.body.strip():
            return None
        return loads(self.body)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").partition(";")[0].strip()


def problem_from_body(body: bytes) -> Problem:
    """Read an error body leniently: a problem, a 2FA ErrorResponse, or anything at all."""
    try:
        data = json.loads(body) if body.strip() else {}
    except ValueError:
        return Problem(detail=body[:500].decode("utf-8", "replace"))
    if not isinstance(data, dict):
        return Problem(detail=str(data)[:500])
    try:
        return Problem.model_validate(data)
    except ValueError:
        return Problem(detail=str(data)[:500])


class Transport:
    """Sends requests to tyntec for one :class:`~botkit.tyntec.TyntecClient`."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        timeout: float,
        retry: RetryPolicy,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry = retry
        self._session = session
        self._own_session: aiohttp.ClientSession | None = None  # for a proxy: see open()
        self.proxy: str | None = None  # the environment's proxy, once open
        self._exchange: ConnectionPool | _SessionExchange | None = None
        self._closed = False

    async def open(self) -> None:
        if self._closed:
            raise RuntimeError("this TyntecClient is closed; create a new one")
        if self._exchange is None:
            headers = {
                "apikey": self.api_key,
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            }
            # Given an aiohttp session, the client sends through it (a caller's proxy or TLS
            # set-up); otherwise through keep-alive connections of its own for the client's
            # life, which cost less than half of aiohttp's CPU per call (see ._connections).
            # Those speak to no proxy: with one named in the environment, a session of the
            # client's own does.
            session = self._session
            proxy = environment_proxy(self.base_url) if session is None else None
            if proxy is not None:
                self.proxy = proxy
                session = self._own_session = aiohttp.ClientSession(trust_env=True)
                log.info("tyntec client: through the proxy %s (from the environment)", shown(proxy))
            self._exchange = (
                _SessionExchange(session, self.base_url, headers)
                if session is not None
                else ConnectionPool(self.base_url, headers)
            )

    async def close(self) -> None:
        if self._exchange is not None:
            await self._exchange.close()
        if self._own_session is not None:
            await self._own_session.close()
            self._own_session = None
        self._exchange = None
        self._closed = True

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json_body: Any = None,
        data: bytes | None = None,
        content_type: str | None = None,
        idempotent: bool | None = None,
        ok_statuses: frozenset[int] = frozenset(),
        timeout: float | None = None,
    ) -> Response:
        """Send one call, retrying as the policy allows; raise on an error answer.

        ``idempotent`` defaults from the method (GET, PUT, DELETE are). Statuses in
        ``ok_statuses`` are returned rather than raised, for calls whose error statuses are
        answers (an OTP check's 401 "wrong code").
        """
        if idempotent is None:
            idempotent = method in ("GET", "HEAD", "PUT", "DELETE")
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._send_once(
                    method, path, params, json_body, data, content_type, timeout
                )
                if response.status >= 400 and response.status not in ok_statuses:
                    raise _api_error(response, method, path)
                return response
            except TyntecError as error:
                if not self.retry.should_retry(error, attempt=attempt, idempotent=idempotent):
                    raise
                wait = self.retry.delay(error, attempt=attempt)
                log.info(
                    "tyntec %s %s failed (%s); retry %d in %.2fs",
                    method,
                    path,
                    type(error).__name__,
                    attempt,
                    wait,
                )
                await asyncio.sleep(wait)

    async def _send_once(
        self,
        method: str,
        path: str,
        params: Params | None,
        json_body: Any,
        data: bytes | None,
        content_type: str | None,
        timeout: float | None,
    ) -> Response:
        exchange = self._exchange
        if exchange is None:
            raise RuntimeError("use the client as `async with TyntecClient(...) as api:`")
        query = _query(params)
        target = f"{path}?{urlencode(query)}" if query else path
        if json_body is not None:
            data, content_type = dumps(json_body).encode(), "application/json"
        seconds = timeout or self.timeout
        try:
            answer = await exchange.request(
                method, target, body=data, content_type=content_type, timeout=seconds
            )
        except (CannotConnect, aiohttp.ClientConnectorError) as exc:
            reason = exc.reason if isinstance(exc, CannotConnect) else exc.strerror
            raise ConnectError(
                f"{method} {path}: cannot connect to {self.base_url}: {reason or exc}",
                method=method,
                path=path,
            ) from None
        except TimeoutError:
            raise RequestTimeout(
                f"{method} {path}: no answer within {seconds:g}s", method=method, path=path
            ) from None
        except (ExchangeFailed, aiohttp.ClientError) as exc:
            raise TransportError(f"{method} {path}: {exc}", method=method, path=path) from None
        log.debug("tyntec %s %s -> %d", method, path, answer.status)
        return Response(answer.status, answer.headers, answer.body)


class _SessionExchange:
    """A caller's aiohttp session, with the :class:`ConnectionPool`'s ``request`` and
    ``close``; the session stays the caller's to close."""

    def __init__(
        self, session: aiohttp.ClientSession, base_url: str, headers: dict[str, str]
    ) -> None:
        self.session = session
        self.base_url = base_url
        self.headers = headers

    async def request(
        self,
        method: str,
        target: str,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        timeout: float,
    ) -> Answer:
        headers = {**self.headers, "Content-Type": content_type} if content_type else self.headers
        async with self.session.request(
            method,
            self.base_url + target,
            data=body,
            headers=headers,
            timeout=_client_timeout(timeout),
        ) as raw:
            answered = {k.lower(): v for k, v in raw.headers.items()}
            return Answer(raw.status, answered, await raw.read())

    async def close(self) -> None:
        """Nothing: the session is the caller's."""


@functools.lru_cache(maxsize=16)
def _client_timeout(seconds: float) -> aiohttp.ClientTimeout:
    # One object per value (a call makes one per request otherwise; it is immutable).
    return aiohttp.ClientTimeout(total=seconds)


def _query(params: Params | None) -> dict[str, str] | None:
    if not params:
        return None
    query: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        query[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return query


def _api_error(response: Response, method: str, path: str) -> APIError:
    cls = error_for_status(response.status)
    return cls(
        response.status,
        problem_from_body(response.body),
        method=method,
        path=path,
        body=response.body[:2000].decode("utf-8", "replace"),
        headers=response.headers,
    )
