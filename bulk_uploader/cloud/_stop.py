"""The stop gate: after a stop, no new request goes out, and waits end at once.

A request waits before it is sent: for the rate limiter, for a licence
token, for a logon, or between two attempts. Each such wait runs in a
cancel scope the gate knows of, so ``stop`` ends them all at once with
``UploadNotStarted`` instead of letting them end their wait and then send.
Requests already sent are not in any wait and finish normally.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from bulk_uploader.errors import UploadNotStarted

__all__ = ["StopGate"]

T = TypeVar("T")

_STOPPED = "The run is stopping: this receipt was not sent; the next run sends it."


class StopGate:
    """Whether new requests may still be sent."""

    __slots__ = ("_stopped", "_waits")

    def __init__(self) -> None:
        self._stopped = False
        self._waits: set[anyio.CancelScope] = set()

    @property
    def stopped(self) -> bool:
        """Whether ``stop`` was called."""
        return self._stopped

    def stop(self) -> None:
        """Let no new request out, and end every wait before one."""
        self._stopped = True
        for scope in self._waits:
            scope.cancel()

    def check(self) -> None:
        """Raise ``UploadNotStarted`` once stopped; call right before sending."""
        if self._stopped:
            raise UploadNotStarted(_STOPPED)

    async def wait(self, waiting: Callable[[], Awaitable[T]]) -> T:
        """Run ``waiting``; ``UploadNotStarted`` as soon as a stop comes."""
        self.check()
        with anyio.CancelScope() as scope:
            self._waits.add(scope)
            try:
                return await waiting()
            finally:
                self._waits.discard(scope)
        # Only the gate cancels this scope; any other cancellation passes.
        raise UploadNotStarted(_STOPPED)
