"""The exceptions of botkit's tyntec client.

    TyntecError
    ├── TransportError            the request got no HTTP answer
    │   ├── ConnectError          ... it never reached tyntec (safe to retry any call)
    │   └── RequestTimeout        ... no answer in time (tyntec may have acted on it)
    └── APIError                  tyntec answered with an error status
        ├── BadRequestError       400, with the problem's ``violations``
        ├── AuthenticationError   401
        ├── ForbiddenError        403
        ├── NotFoundError         404
        ├── GoneError             410
        ├── RateLimitError        429, with ``retry_after``
        └── ServerError           5xx

Invalid input caught before sending (a text over the channel's limit, a template without a
language) raises ``pydantic.ValidationError`` from the model, before any request is made.

No exception carries the API key: requests are described by method and path only.
"""

from __future__ import annotations

from .models.problem import Problem, Violation

__all__ = [
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "ConnectError",
    "ForbiddenError",
    "GoneError",
    "NotFoundError",
    "RateLimitError",
    "RequestTimeout",
    "ServerError",
    "TransportError",
    "TyntecError",
]


class TyntecError(Exception):
    """Base of every error the tyntec client raises."""

    def __init__(self, message: str, *, method: str = "", path: str = "") -> None:
        super().__init__(message)
        self.method = method
        self.path = path


class TransportError(TyntecError):
    """No HTTP answer: the connection failed or the answer did not come in time."""


class ConnectError(TransportError):
    """The connection to tyntec could not be made, so the request was never sent."""


class RequestTimeout(TransportError):
    """tyntec did not answer in time; it may or may not have acted on the request."""


class APIError(TyntecError):
    """tyntec answered with an error status.

    ``status`` is the HTTP status, ``problem`` the parsed body (RFC 7807 problem or 2FA
    ErrorResponse), ``body`` the raw text, ``request_id`` tyntec's id of the request when it
    sent one (quote it to tyntec's support).
    """

    def __init__(
        self,
        status: int,
        problem: Problem,
        *,
        method: str,
        path: str,
        body: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.problem = problem
        self.body = body
        # Lower-cased keys: HTTP header names are case-insensitive.
        self.headers = {k.lower(): v for k, v in (headers or {}).items()}
        self.request_id = self.headers.get("x-request-id")
        super().__init__(
            f"{method} {path} answered {status}: {problem.summary()}", method=method, path=path
        )

    @property
    def violations(self) -> list[Violation]:
        """The failed constraints of a 400 answer (empty otherwise)."""
        return list(self.problem.violations)


class BadRequestError(APIError):
    """400: the request did not match tyntec's expectations; see ``violations``."""


class AuthenticationError(APIError):
    """401: the API key is missing or wrong."""


class ForbiddenError(APIError):
    """403: the key may not use this number or resource."""


class NotFoundError(APIError):
    """404: no such message, media, group, application or OTP."""


class GoneError(APIError):
    """410: the resource existed but is no longer active."""


class RateLimitError(APIError):
    """429: too many requests; ``retry_after`` is tyntec's hint in seconds, if it gave one."""

    @property
    def retry_after(self) -> float | None:
        return _parse_retry_after(self.headers.get("retry-after"))


class ServerError(APIError):
    """5xx: tyntec failed to handle the request."""


def _parse_retry_after(value: str | None) -> float | None:
    # Retry-After may also be an HTTP date; tyntec sends seconds, and a date is rare enough
    # that falling back to our own backoff is the right answer.
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return max(seconds, 0.0)


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: ForbiddenError,
    404: NotFoundError,
    410: GoneError,
    429: RateLimitError,
}


def error_for_status(status: int) -> type[APIError]:
    """The exception class for an HTTP error status."""
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, APIError)
