"""Time, behind a small interface so tests can replace waiting with counting."""

from __future__ import annotations

import time
from typing import Protocol

import anyio
import anyio.lowlevel

__all__ = ["Clock", "FakeClock", "SystemClock"]


class Clock(Protocol):
    """What the retry, throttle and licence code need to know about time."""

    def time(self) -> float:
        """Wall-clock time as a Unix timestamp (for ``exp`` and HTTP dates)."""

    def monotonic(self) -> float:
        """A clock that never goes back, for intervals and rates."""

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``; cancellable."""


class SystemClock:
    """The real clock."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock that jumps instead of waiting, and remembers every wait.

    ``sleep`` advances both clocks by the requested time and yields once to
    the event loop, so code under test runs at full speed while the test can
    assert on ``sleeps`` (how long it would have waited, and in what order).
    """

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._wall = start
        self._mono = 0.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._wall += seconds
        self._mono += seconds

    async def sleep(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self.sleeps.append(seconds)
        self.advance(seconds)
        await anyio.lowlevel.checkpoint()
