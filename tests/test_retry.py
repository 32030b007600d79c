"""RetryPolicy: what is retried, and how long it waits."""

from __future__ import annotations

import pytest

from botkit.tyntec import (
    ConnectError,
    RateLimitError,
    RequestTimeout,
    RetryPolicy,
    ServerError,
    TransportError,
)
from botkit.tyntec.models import Problem


def server_error(status: int, headers: dict[str, str] | None = None) -> ServerError:
    return ServerError(status, Problem(), method="POST", path="/x", headers=headers)


def rate_limited(retry_after: str | None) -> RateLimitError:
    headers = {"Retry-After": retry_after} if retry_after is not None else None
    return RateLimitError(429, Problem(), method="POST", path="/x", headers=headers)


@pytest.mark.parametrize(
    ("error", "idempotent", "expected"),
    [
        (ConnectError("x"), False, True),
        (rate_limited("1"), False, True),
        (RequestTimeout("x"), False, False),
        (RequestTimeout("x"), True, True),
        (TransportError("dropped"), True, True),
        (server_error(503), False, False),
        (server_error(503), True, True),
        (server_error(500), True, False),
    ],
)
def test_what_is_retried(error: Exception, idempotent: bool, expected: bool) -> None:
    policy = RetryPolicy(attempts=3)
    assert policy.should_retry(error, attempt=1, idempotent=idempotent) is expected  # type: ignore[arg-type]


def test_attempts_bound_the_retries() -> None:
    policy = RetryPolicy(attempts=2)
    assert policy.should_retry(ConnectError("x"), attempt=1, idempotent=True)
    assert not policy.should_retry(ConnectError("x"), attempt=2, idempotent=True)


def test_backoff_is_exponential_capped_and_jittered() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=3.0, jitter=lambda: 1.0)
    delays = [policy.delay(ConnectError("x"), attempt=n) for n in range(1, 6)]
    assert delays == [0.5, 1.0, 2.0, 3.0, 3.0]
    half = RetryPolicy(base_delay=0.5, max_delay=3.0, jitter=lambda: 0.5)
    assert half.delay(ConnectError("x"), attempt=3) == 1.0


def test_retry_after_is_honoured_and_capped() -> None:
    policy = RetryPolicy(max_retry_after=10.0, jitter=lambda: 0.0)
    assert policy.delay(rate_limited("2.5"), attempt=1) == 2.5
    assert policy.delay(rate_limited("3600"), attempt=1) == 10.0
    # An HTTP-date or garbage hint falls back to our own backoff.
    assert policy.delay(rate_limited("Wed, 21 Oct 2015 07:28:00 GMT"), attempt=1) == 0.0
