"""The token bucket and the adaptive upload rate, on a fake clock."""

from __future__ import annotations

import anyio
import pytest

from bulk_uploader.clock import FakeClock
from bulk_uploader.throttle import AdaptiveLimiter, TokenBucket

pytestmark = pytest.mark.anyio


async def test_bucket_starts_with_one_burst_only() -> None:
    """At start, exactly `burst` requests pass at once; then one per interval."""
    clock = FakeClock()
    bucket = TokenBucket(10.0, burst=4, clock=clock)
    for _ in range(4):
        await bucket.acquire()
    assert clock.sleeps == []

    await bucket.acquire()
    assert clock.sleeps == [pytest.approx(0.1)]


async def test_bucket_idle_time_does_not_build_a_bigger_burst() -> None:
    """After a long idle spell the bucket still holds no more than `burst`."""
    clock = FakeClock()
    bucket = TokenBucket(10.0, burst=3, clock=clock)
    clock.advance(3600.0)
    for _ in range(3):
        await bucket.acquire()
    assert clock.sleeps == []
    await bucket.acquire()
    assert len(clock.sleeps) == 1


async def test_bucket_holds_its_rate_over_many_requests() -> None:
    """N requests at rate R take (N - burst) / R seconds on the clock."""
    clock = FakeClock()
    bucket = TokenBucket(200.0, burst=4, clock=clock)
    for _ in range(1004):
        await bucket.acquire()
    assert clock.monotonic() == pytest.approx(1000 / 200.0)


async def test_bucket_serves_concurrent_waiters_at_the_rate() -> None:
    """Many tasks waiting at once are spaced by the interval, not let through."""
    clock = FakeClock()
    bucket = TokenBucket(5.0, burst=1, clock=clock)
    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(bucket.acquire)
    # The fake clock jumps on each sleep, so each waiter sleeps one interval
    # after the one before it; the last is let through 9 intervals on.
    assert clock.sleeps == pytest.approx([0.2] * 9)
    assert clock.monotonic() == pytest.approx(1.8)


async def test_bucket_burst_is_capped_at_one_second_of_rate() -> None:
    """At 2 requests/s a burst of 4 would exceed a second's worth: 2 pass."""
    clock = FakeClock()
    bucket = TokenBucket(2.0, burst=4, clock=clock)
    for _ in range(3):
        await bucket.acquire()
    assert clock.sleeps == [pytest.approx(0.5)]


async def test_unlimited_bucket_never_waits() -> None:
    """rate=None lets everything through without touching the clock."""
    clock = FakeClock()
    bucket = TokenBucket(None, burst=1, clock=clock)
    for _ in range(1000):
        await bucket.acquire()
    assert clock.sleeps == []


def test_bucket_rejects_bad_arguments() -> None:
    """A zero rate or burst is a programming error, reported at once."""
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(0.0, burst=1, clock=FakeClock())
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(1.0, burst=0, clock=FakeClock())


async def _succeed_at(
    limiter: AdaptiveLimiter, clock: FakeClock, rate: float, seconds: float
) -> None:
    """Pretend the server accepts `rate` requests per second for `seconds`."""
    for _ in range(round(rate * seconds)):
        await limiter.acquire()
        clock.advance(1.0 / rate)
        limiter.on_success()


async def test_adaptive_is_unlimited_until_the_first_429() -> None:
    """Without a ceiling nothing is limited before the server objects."""
    clock = FakeClock()
    limiter = AdaptiveLimiter(ceiling=None, clock=clock)
    await _succeed_at(limiter, clock, 1000.0, 0.5)
    assert limiter.rate is None


async def test_adaptive_drops_below_the_rate_the_server_accepted() -> None:
    """A 429 sets the rate to about 0.9 of the recent accepted rate."""
    clock = FakeClock()
    limiter = AdaptiveLimiter(ceiling=None, clock=clock)
    await _succeed_at(limiter, clock, 200.0, 2.0)

    generation = await limiter.acquire()
    assert limiter.on_throttled(generation)
    assert limiter.rate == pytest.approx(180.0, rel=0.05)


async def test_adaptive_lowers_once_for_a_burst_of_429s() -> None:
    """429s to requests sent before the decrease do not lower it again."""
    clock = FakeClock()
    limiter = AdaptiveLimiter(ceiling=400.0, clock=clock)
    await _succeed_at(limiter, clock, 300.0, 2.0)
    generations = [await limiter.acquire() for _ in range(16)]

    lowered = [limiter.on_throttled(generation) for generation in generations]
    assert lowered == [True] + [False] * 15
    rate = limiter.rate
    # A request sent at the new rate, but too soon after the cut, is held too.
    assert not limiter.on_throttled(await limiter.acquire())
    assert limiter.rate == rate


async def test_adaptive_lowers_again_when_the_new_rate_is_still_refused() -> None:
    """A 429 at the new rate, a little later, lowers the rate once more."""
    clock = FakeClock()
    limiter = AdaptiveLimiter(ceiling=1000.0, clock=clock)
    await _succeed_at(limiter, clock, 500.0, 1.0)
    assert limiter.on_throttled(await limiter.acquire())
    first = limiter.rate
    assert first is not None

    await _succeed_at(limiter, clock, 100.0, 1.0)
    assert limiter.on_throttled(await limiter.acquire())
    second = limiter.rate
    assert second is not None
    assert second < first
    assert second == pytest.approx(90.0, rel=0.1)


async def test_adaptive_recovers_additively_but_not_above_the_ceiling() -> None:
    """After a decrease the rate climbs in small steps and stops at the ceiling."""
    clock = FakeClock()
    limiter = AdaptiveLimiter(ceiling=100.0, clock=clock)
    await _succeed_at(limiter, clock, 100.0, 2.0)
    assert limiter.on_throttled(await limiter.acquire())
    lowered = limiter.rate
    assert lowered == pytest.approx(90.0, rel=0.05)

    rates = []
    for _ in range(20):
        await _succeed_at(limiter, clock, limiter.rate or 1.0, 1.0)
        rates.append(limiter.rate)
    assert all(rate is not None for rate in rates)
    steps = [b - a for a, b in zip([lowered, *rates], rates, strict=False)]
    # Additive: each second adds at most 2% of the ceiling; never a jump.
    assert all(0 <= step <= 2.0 + 1e-9 for step in steps if step is not None)
    assert rates[-1] == 100.0


async def test_adaptive_does_not_raise_a_limit_nobody_uses() -> None:
    """When uploads run far below the limit, the limit stays where it is."""
    clock = FakeClock()
    limiter = AdaptiveLimiter(ceiling=None, clock=clock)
    await _succeed_at(limiter, clock, 100.0, 2.0)
    assert limiter.on_throttled(await limiter.acquire())
    lowered = limiter.rate

    await _succeed_at(limiter, clock, 10.0, 5.0)
    assert limiter.rate == lowered


async def test_adaptive_halves_when_nothing_gets_through() -> None:
    """With no recent success, a 429 halves the current limit."""
    clock = FakeClock()
    limiter = AdaptiveLimiter(ceiling=50.0, clock=clock)
    clock.advance(5.0)
    assert limiter.on_throttled(await limiter.acquire())
    assert limiter.rate == pytest.approx(25.0)


async def test_adaptive_with_ceiling_starts_at_the_ceiling() -> None:
    """A configured ceiling is in force from the first request on."""
    clock = FakeClock()
    limiter = AdaptiveLimiter(ceiling=20.0, burst=1, clock=clock)
    for _ in range(21):
        await limiter.acquire()
    assert clock.monotonic() == pytest.approx(1.0)
