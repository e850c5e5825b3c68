"""Which failures are worth another try, and how long to wait before it.

The policy is plain data plus two pure functions, so it can be tested
without a network: ``RetryPolicy.is_retryable`` says whether an answer (or
no answer at all) may succeed if sent again, and ``RetryState.next_delay``
says how long to wait before the next attempt of one request, or ``None``
when the attempt cap or the time budget is used up.

Waits use exponential backoff with full jitter (a uniform draw between zero
and the capped exponential), so many tasks that failed together do not come
back together. A server's ``Retry-After`` (seconds or an HTTP date) replaces
the backoff, capped so a confused server cannot park a run for a day.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime

from bulk_uploader.clock import Clock

__all__ = [
    "DEFAULT_BASE_DELAY",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_MAX_DELAY",
    "DEFAULT_RETRY_AFTER_CAP",
    "DEFAULT_RETRY_BUDGET",
    "RETRYABLE_STATUSES",
    "RetryPolicy",
    "RetryState",
    "parse_retry_after",
]

DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_RETRY_BUDGET = 300.0
DEFAULT_RETRY_AFTER_CAP = 120.0
DEFAULT_BASE_DELAY = 0.5
DEFAULT_MAX_DELAY = 30.0

# Timeouts, throttling and the server-side faults that pass by themselves.
# Every other status says something about the request, which will not change.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

# Added to an honoured Retry-After so that tasks told the same moment do not
# all return in the same millisecond; never subtracted, so never early.
_RETRY_AFTER_SPREAD = 0.1


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait according to a ``Retry-After`` header, or ``None``.

    ``value`` is either a number of seconds or an HTTP date; ``now`` is the
    current Unix time, against which a date is measured. A date in the past
    means zero; anything unreadable means ``None`` (no advice given).
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None

    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        # float() also accepts "nan" and "inf", which no server means.
        if not math.isfinite(seconds):
            return None
        return max(0.0, seconds)

    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    # An HTTP date is always GMT; a date without a zone is read the same way.
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)

    return max(0.0, when.timestamp() - now)


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How often and how long one request is tried before it is given up."""

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    budget: float = DEFAULT_RETRY_BUDGET
    retry_after_cap: float = DEFAULT_RETRY_AFTER_CAP
    base_delay: float = DEFAULT_BASE_DELAY
    max_delay: float = DEFAULT_MAX_DELAY

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.budget < 0 or self.retry_after_cap < 0:
            raise ValueError("budget and retry_after_cap must not be negative")
        if not 0 < self.base_delay <= self.max_delay:
            raise ValueError("need 0 < base_delay <= max_delay")

    @staticmethod
    def is_retryable(status: int | None) -> bool:
        """Whether another try may succeed; ``None`` stands for no answer."""
        return status is None or status in RETRYABLE_STATUSES

    def backoff(self, failures: int, rng: random.Random) -> float:
        """Full-jitter wait after the ``failures``-th failed attempt (from 1)."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (failures - 1))
        return rng.uniform(0.0, ceiling)

    def start(self, clock: Clock, rng: random.Random | None = None) -> RetryState:
        """The retry bookkeeping for one request, starting now."""
        return RetryState(self, clock, rng or random.Random())


class RetryState:
    """Attempts made and time spent so far for one request."""

    __slots__ = ("_clock", "_deadline", "_policy", "_rng", "attempts")

    def __init__(self, policy: RetryPolicy, clock: Clock, rng: random.Random) -> None:
        self._policy = policy
        self._clock = clock
        self._rng = rng
        self._deadline = clock.monotonic() + policy.budget
        # Failed attempts so far; the request's attempt count after a failure.
        self.attempts = 0

    def next_delay(self, *, retry_after: float | None = None) -> float | None:
        """Record a failed attempt; the wait before the next one, or ``None``.

        ``retry_after`` is the server's advice in seconds, already parsed.
        ``None`` comes back when the attempt cap is reached or when waiting
        would end past the time budget: then the request is given up.
        """
        self.attempts += 1
        policy = self._policy
        if self.attempts >= policy.max_attempts:
            return None

        if retry_after is not None:
            honoured = min(retry_after, policy.retry_after_cap)
            delay = honoured + self._rng.uniform(0.0, _RETRY_AFTER_SPREAD)
        else:
            delay = policy.backoff(self.attempts, self._rng)

        if self._clock.monotonic() + delay > self._deadline:
            return None

        return delay
