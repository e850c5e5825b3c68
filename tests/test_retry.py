"""The retry policy: what is retried, how long it waits, when it gives up."""

from __future__ import annotations

import random
from email.utils import formatdate

import pytest

from bulk_uploader.clock import FakeClock
from bulk_uploader.retry import RETRYABLE_STATUSES, RetryPolicy, parse_retry_after


@pytest.mark.parametrize("status", [None, 408, 429, 500, 502, 503, 504])
def test_transient_failures_are_retried(status: int | None) -> None:
    """No answer, timeouts, throttling and server faults may succeed later."""
    assert RetryPolicy.is_retryable(status)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413, 415, 422, 501])
def test_other_statuses_are_permanent(status: int) -> None:
    """Answers about the request itself are not worth another try."""
    assert not RetryPolicy.is_retryable(status)
    assert status not in RETRYABLE_STATUSES


def test_backoff_is_full_jitter_under_an_exponential_cap() -> None:
    """Each wait lies between zero and min(max_delay, base * 2**(n-1))."""
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0)
    rng = random.Random(7)
    for failures, cap in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0)]:
        waits = [policy.backoff(failures, rng) for _ in range(200)]
        assert all(0.0 <= wait <= cap for wait in waits)
        # Full jitter spreads over the whole range, not just near the cap.
        assert min(waits) < cap * 0.1
        assert max(waits) > cap * 0.9


def test_attempt_cap_gives_up() -> None:
    """With max_attempts=3, two failures get a wait and the third gives up."""
    retry = RetryPolicy(max_attempts=3).start(FakeClock(), random.Random(1))
    assert retry.next_delay() is not None
    assert retry.next_delay() is not None
    assert retry.next_delay() is None
    assert retry.attempts == 3


def test_budget_gives_up_when_the_wait_would_overrun_it() -> None:
    """A wait that would end past the per-request budget is not taken."""
    clock = FakeClock()
    retry = RetryPolicy(max_attempts=100, budget=10.0).start(clock, random.Random(1))
    first = retry.next_delay(retry_after=6.0)
    assert first is not None
    clock.advance(first)
    assert retry.next_delay(retry_after=6.0) is None


def test_retry_after_is_honoured_and_never_shortened() -> None:
    """A Retry-After replaces the backoff; the wait is at least that long."""
    retry = RetryPolicy(max_attempts=50).start(FakeClock(), random.Random(3))
    for _ in range(20):
        delay = retry.next_delay(retry_after=7.0)
        assert delay is not None
        assert 7.0 <= delay <= 7.2


def test_retry_after_is_capped() -> None:
    """A server asking for an hour gets the cap, not the hour."""
    policy = RetryPolicy(retry_after_cap=20.0, budget=1000.0)
    delay = policy.start(FakeClock(), random.Random(3)).next_delay(retry_after=3600)
    assert delay is not None
    assert 20.0 <= delay <= 20.2


@pytest.mark.parametrize(
    ("header", "expected"),
    [("120", 120.0), (" 5 ", 5.0), ("0", 0.0), ("1.5", 1.5), ("-3", 0.0)],
)
def test_retry_after_in_seconds(header: str, expected: float) -> None:
    """Delay-seconds are read as they are; a negative delay means now."""
    assert parse_retry_after(header, now=1_800_000_000.0) == expected


def test_retry_after_as_http_date() -> None:
    """An HTTP date is measured against the given current time."""
    now = 1_800_000_000.0
    header = formatdate(now + 90, usegmt=True)
    assert parse_retry_after(header, now=now) == pytest.approx(90.0)
    past = formatdate(now - 90, usegmt=True)
    assert parse_retry_after(past, now=now) == 0.0


@pytest.mark.parametrize("header", [None, "", "soon", "nan", "inf", "Mon, 99 Foo"])
def test_unreadable_retry_after_gives_no_advice(header: str | None) -> None:
    """Garbage in Retry-After is ignored rather than trusted."""
    assert parse_retry_after(header, now=1_800_000_000.0) is None


def test_policy_rejects_nonsense() -> None:
    """A policy that could never try once, or wait a negative time, is refused."""
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="budget"):
        RetryPolicy(budget=-1.0)
