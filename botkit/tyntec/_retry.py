"""When and how long to wait before retrying a tyntec call.

Capped exponential backoff with full jitter, honouring ``Retry-After``. Only idempotent calls
are retried after the request may have reached tyntec; a send that is not idempotent is retried
only when tyntec provably did not act on it (the connection failed, or it answered 429), unless
the caller opts in, because a retried send can reach the user twice.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from ._errors import ConnectError, RateLimitError, ServerError, TransportError, TyntecError

__all__ = ["RetryPolicy"]

_RETRYABLE_SERVER_STATUSES = frozenset({502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How a :class:`~botkit.tyntec.TyntecClient` retries failed calls.

    ``attempts`` counts the first try. ``jitter`` draws numbers in [0, 1); it is injectable so
    tests are deterministic.

    >>> RetryPolicy(attempts=1)  # never retry
    RetryPolicy(attempts=1, base_delay=0.25, max_delay=8.0, max_retry_after=30.0)
    """

    attempts: int = 4
    base_delay: float = 0.25
    max_delay: float = 8.0
    max_retry_after: float = 30.0
    jitter: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def should_retry(self, error: TyntecError, *, attempt: int, idempotent: bool) -> bool:
        """Whether a call that failed with ``error`` on try number ``attempt`` goes again."""
        if attempt >= self.attempts:
            return False
        if isinstance(error, ConnectError | RateLimitError):
            return True  # tyntec did not act on the request
        if isinstance(error, TransportError):
            return idempotent  # a timeout or a dropped connection: tyntec may have acted
        if isinstance(error, ServerError):
            return idempotent and error.status in _RETRYABLE_SERVER_STATUSES
        return False

    def delay(self, error: TyntecError, *, attempt: int) -> float:
        """Seconds to wait before try ``attempt + 1``."""
        if isinstance(error, RateLimitError) and error.retry_after is not None:
            return min(error.retry_after, self.max_retry_after)
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return ceiling * self.jitter()
