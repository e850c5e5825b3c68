"""The simulator's two limits: licence-token blocking and the upload rate."""

from __future__ import annotations

import math
from collections import deque
from email.utils import formatdate

__all__ = ["LicenceGate", "UploadThrottle", "retry_after_value"]


class LicenceGate:
    """Blocks a caller who asks for licence tokens too often.

    Each caller (the API key behind the bearer token) may make ``limit``
    calls in any sliding window of ``window`` seconds. The call that goes
    over the limit starts a block of ``duration`` seconds; calls during the
    block are refused and do not extend it. When the block ends the caller
    starts with an empty window.
    """

    def __init__(self) -> None:
        self._calls: dict[str, deque[float]] = {}
        self._blocked_until: dict[str, float] = {}

    def clear(self) -> None:
        self._calls.clear()
        self._blocked_until.clear()

    def admit(
        self, caller: str, now: float, *, limit: int, window: float, duration: float
    ) -> float:
        """0.0 if the call may proceed, else the seconds left in the block."""
        until = self._blocked_until.get(caller)
        if until is not None:
            if now < until:
                return until - now
            del self._blocked_until[caller]
            self._calls.pop(caller, None)

        calls = self._calls.setdefault(caller, deque())
        while calls and calls[0] <= now - window:
            calls.popleft()
        if len(calls) >= limit:
            self._blocked_until[caller] = now + duration
            calls.clear()
            return duration

        calls.append(now)
        return 0.0


class UploadThrottle:
    """A token bucket: ``rate`` uploads per second, bursts of up to one second."""

    def __init__(self) -> None:
        self._tokens: float | None = None
        self._last = 0.0

    def clear(self) -> None:
        self._tokens = None

    def admit(self, rate: float | None, now: float) -> float:
        """0.0 if an upload may proceed, else the seconds until one may."""
        if rate is None or rate <= 0:
            return 0.0

        capacity = max(1.0, rate)
        if self._tokens is None:
            self._tokens = capacity
        else:
            elapsed = max(0.0, now - self._last)
            self._tokens = min(capacity, self._tokens + elapsed * rate)
        self._last = now

        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0

        return (1.0 - self._tokens) / rate


def retry_after_value(wait: float, now: float, fmt: str) -> str:
    """``Retry-After`` for a wait of ``wait`` seconds: whole seconds or a date.

    Both forms round up, so a client that honours the header to the letter
    never comes back early.
    """
    if fmt == "date":
        return formatdate(math.ceil(now + wait), usegmt=True)

    return str(max(1, math.ceil(wait)))
