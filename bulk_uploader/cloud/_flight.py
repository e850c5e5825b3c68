"""Single-flight: one run of a piece of work, whatever the number of askers.

The work runs in a task of the owner's task group, not in the task of the
first asker, so a cancelled asker does not cancel it for the others. Every
asker waits on an event and then gets the result, or a copy of the error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

import anyio
from anyio.abc import TaskGroup

from bulk_uploader.errors import CloudError

__all__ = ["FlightGroup", "copy_error"]

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class _Flight(Generic[T]):
    __slots__ = ("done", "error", "result")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.result: T | None = None
        self.error: Exception | None = None


class FlightGroup(Generic[K, T]):
    """At most one piece of work in flight per key."""

    def __init__(self, task_group: TaskGroup) -> None:
        self._task_group = task_group
        self._flights: dict[K, _Flight[T]] = {}

    def in_flight(self, key: K) -> bool:
        """Whether work for ``key`` is running now."""
        return key in self._flights

    async def join(self, key: K, work: Callable[[], Awaitable[T]]) -> T:
        """The outcome of the work for ``key``, starting ``work`` if none runs."""
        flight = self._flights.get(key)
        if flight is None:
            flight = _Flight()
            self._flights[key] = flight
            self._task_group.start_soon(self._run, key, flight, work)

        await flight.done.wait()
        if flight.error is not None:
            raise copy_error(flight.error) from flight.error
        return flight.result  # type: ignore[return-value]

    async def _run(
        self, key: K, flight: _Flight[T], work: Callable[[], Awaitable[T]]
    ) -> None:
        try:
            flight.result = await work()
        except Exception as exc:
            flight.error = exc
        except BaseException:
            # Cancelled at shutdown: the waiters must not see a missing result.
            flight.error = CloudError("The request was interrupted.")
            raise
        finally:
            del self._flights[key]
            flight.done.set()


def copy_error(error: Exception) -> Exception:
    """A fresh exception equal to ``error``, for one more task to raise.

    Raising one exception object in many tasks would pile every task's
    traceback onto it.
    """
    clone = type(error).__new__(type(error), *error.args)
    clone.__dict__.update(error.__dict__)
    return clone
