"""Pacing requests: a token bucket, and an upload rate that adapts to 429s.

``TokenBucket`` spaces requests at a fixed rate with a small burst. It is
written as a virtual schedule (the "generic cell rate algorithm"): each
caller takes the next free slot and sleeps until it comes, so waiting tasks
are served in arrival order, a late wake-up never shifts later slots, and
the bucket can never hold more than ``burst`` requests, not even at start.

``AdaptiveLimiter`` puts additive-increase/multiplicative-decrease on top
for uploads. On a 429 it drops to a little below the rate the server was
actually accepting when it refused (measured from recent successes), rather
than halving an arbitrary rate; 429s that were already in flight when the
rate went down do not lower it again. After a quiet second in which the
limit was the bottleneck it climbs by a small fixed step, never above the
ceiling. Without a ceiling it does not limit at all until the first 429.

Both are cheap per request: a few float operations and, when the limit is
reached, one sleep on the injected clock.
"""

from __future__ import annotations

import logging
from collections import deque

from bulk_uploader.clock import Clock

__all__ = ["DEFAULT_BURST", "AdaptiveLimiter", "TokenBucket"]

logger = logging.getLogger(__name__)

DEFAULT_BURST = 4

# After a 429, send at this share of the rate the server was accepting.
_DECREASE = 0.9
# At most one decrease in this many seconds.
_HOLD = 0.2
# Additive increase: every _INCREASE_EVERY seconds without a 429, if the
# limit was what held uploads back, add _STEP of the reference rate.
_INCREASE_EVERY = 1.0
_STEP = 0.02
_MIN_STEP = 0.1
# The limit never falls below this many requests per second.
_MIN_RATE = 0.2
# Successes are measured over about this many seconds, in snapshots taken
# at most every _SNAPSHOT_EVERY seconds, so a success costs one comparison.
_WINDOW = 1.0
_SNAPSHOT_EVERY = 0.01
# The limit held uploads back if they succeeded at this share of it.
_SATURATED = 0.8


class TokenBucket:
    """At most ``rate`` requests per second, in bursts of at most ``burst``.

    ``rate=None`` means no limit: ``acquire`` returns at once. The burst is
    also capped at one second's worth of requests, so a low rate with the
    default burst cannot start with more than the server would accept.
    """

    __slots__ = ("_burst", "_clock", "_interval", "_next", "_rate", "_tolerance")

    def __init__(self, rate: float | None, *, burst: int, clock: Clock) -> None:
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self._clock = clock
        self._burst = burst
        self._rate: float | None = None
        self._interval = 0.0
        self._tolerance = 0.0
        # The theoretical time of the next request: the bucket starts holding
        # `burst` tokens, no more (no extra burst at start).
        self._next = clock.monotonic()
        self.set_rate(rate)

    @property
    def rate(self) -> float | None:
        """The current limit in requests per second, ``None`` if unlimited."""
        return self._rate

    def set_rate(self, rate: float | None) -> None:
        """Change the limit; slots already handed out keep their time."""
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive (or None for no limit)")
        if self._rate is None:
            # Nothing was scheduled while unlimited: the schedule starts now.
            self._next = self._clock.monotonic()
        self._rate = rate
        if rate is None:
            return

        self._interval = 1.0 / rate
        burst = max(1, min(self._burst, int(rate)))
        self._tolerance = (burst - 1) * self._interval

    async def acquire(self) -> None:
        """Wait for the next free slot."""
        if self._rate is None:
            return

        now = self._clock.monotonic()
        slot = self._next if self._next > now else now
        self._next = slot + self._interval
        wait = slot - self._tolerance - now
        if wait > 0:
            await self._clock.sleep(wait)


class AdaptiveLimiter:
    """The upload rate: a token bucket that slows down on 429 and recovers.

    Call ``acquire`` before each request and keep the generation it returns;
    call ``on_success`` after each accepted request and ``on_throttled``
    with that generation after each 429.
    """

    def __init__(
        self, *, ceiling: float | None, burst: int = DEFAULT_BURST, clock: Clock
    ) -> None:
        if ceiling is not None and ceiling <= 0:
            raise ValueError("ceiling must be positive (or None for none)")
        self._clock = clock
        self._ceiling = ceiling
        self._bucket = TokenBucket(ceiling, burst=burst, clock=clock)
        self._step = max(_MIN_STEP, _STEP * ceiling) if ceiling else _MIN_STEP
        # Counts the decreases; a 429 to a request sent before the latest
        # decrease says nothing about the rate in force now.
        self._generation = 0

        now = clock.monotonic()
        self._ok = 0
        # (time, successes so far), oldest first; the first one is the last
        # taken before the window, so the window's count can be read off.
        self._snapshots: deque[tuple[float, int]] = deque([(now, 0)])
        self._last_snapshot = now
        self._lowered_at: float | None = None
        self._next_increase = now + _INCREASE_EVERY

    @property
    def rate(self) -> float | None:
        """The current limit in requests per second, ``None`` if unlimited."""
        return self._bucket.rate

    async def acquire(self) -> int:
        """Wait until the rate allows one more request; its generation.

        The generation is taken before the wait: the slot was given out at
        the rate in force then.
        """
        generation = self._generation
        await self._bucket.acquire()
        return generation

    def on_success(self) -> None:
        """Count an accepted request; now and then, raise the rate a step."""
        self._ok += 1
        now = self._clock.monotonic()
        if now - self._last_snapshot < _SNAPSHOT_EVERY:
            return

        self._snapshots.append((now, self._ok))
        self._last_snapshot = now
        if now >= self._next_increase:
            self._next_increase = now + _INCREASE_EVERY
            self._increase(now)

    def on_throttled(self, generation: int) -> bool:
        """Lower the rate after a 429 to a request of ``generation``.

        Only a request sent at the current rate counts, and at most one
        decrease happens per _HOLD seconds, so the 429s of one crowded
        moment lower the rate once. Returns whether the rate went down.
        """
        now = self._clock.monotonic()
        if generation != self._generation:
            return False
        if self._lowered_at is not None and now - self._lowered_at < _HOLD:
            return False

        current = self._bucket.rate
        accepted = self._measured(now)
        if accepted > 0:
            base = accepted if current is None else min(accepted, current)
            new_rate = _DECREASE * base
        elif current is not None:
            new_rate = 0.5 * current
        else:
            # Refused before anything got through: no rate to start from yet;
            # the refused request waits for its Retry-After meanwhile.
            return False
        new_rate = max(_MIN_RATE, new_rate)

        self._bucket.set_rate(new_rate)
        self._generation += 1
        self._step = max(_MIN_STEP, _STEP * max(accepted, new_rate))
        self._lowered_at = now
        self._next_increase = now + _INCREASE_EVERY
        logger.info("upload rate lowered after 429: rate=%.1f/s", new_rate)
        return True

    def _increase(self, now: float) -> None:
        rate = self._bucket.rate
        if rate is None or (self._ceiling is not None and rate >= self._ceiling):
            return
        # Raise only a limit that is actually holding uploads back; a limit
        # far above what is being sent would allow a burst the server refuses.
        if self._measured(now) < _SATURATED * rate:
            return

        new_rate = rate + self._step
        if self._ceiling is not None:
            new_rate = min(new_rate, self._ceiling)
        self._bucket.set_rate(new_rate)
        logger.debug("upload rate raised: rate=%.1f/s", new_rate)

    def _measured(self, now: float) -> float:
        """Successes in the last _WINDOW seconds, per second.

        A count over a fixed window, not over the time since the run began:
        right after a start with a burst, this errs low, not high.
        """
        snapshots = self._snapshots
        horizon = now - _WINDOW
        while len(snapshots) > 1 and snapshots[1][0] <= horizon:
            snapshots.popleft()
        return (self._ok - snapshots[0][1]) / _WINDOW
