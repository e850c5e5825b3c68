"""Per-client queues served round-robin, so no client starves the rest.

The scheduler holds a bounded number of receipts (the look-ahead window),
bounded in count and in bytes: a million tiny receipts and a few hundred
large ones both fit in a flat amount of memory.
Uploaders take from the clients in turn. A client whose licence token is not
yet known sends one receipt first, the probe; the rest of its receipts wait
until that probe has come back, so that a slow or refused licence fetch ties
up one uploader instead of all of them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

import anyio

__all__ = ["ClientScheduler", "Scheduled"]

ClientKey = tuple[str, str]


class Scheduled(Protocol):
    """Anything queued for a client: a receipt ready to be sent."""

    @property
    def client_key(self) -> ClientKey: ...

    @property
    def size(self) -> int: ...


JobT = TypeVar("JobT", bound=Scheduled)


class ClientScheduler(Generic[JobT]):
    """A bounded, round-robin queue of jobs keyed by (client, licence)."""

    def __init__(
        self,
        capacity: int,
        *,
        max_bytes: int,
        has_licence: Callable[[str, str], bool],
    ) -> None:
        if capacity < 1 or max_bytes < 1:
            raise ValueError("capacity and max_bytes must be at least 1")
        self._capacity = capacity
        self._max_bytes = max_bytes
        self._bytes = 0
        self._has_licence = has_licence
        self._queues: dict[ClientKey, deque[JobT]] = {}
        self._rotation: deque[ClientKey] = deque()
        self._settled: set[ClientKey] = set()
        self._probing: set[ClientKey] = set()
        self._size = 0
        self._closed = False
        self._stopped = False
        self._changed = anyio.Event()
        self._waiting = 0

    def __len__(self) -> int:
        return self._size

    def _is_full(self) -> bool:
        return self._size >= self._capacity or (
            self._size > 0 and self._bytes >= self._max_bytes
        )

    def _wake(self) -> None:
        # Making an Event costs a backend lookup; on the hot path nobody is
        # usually waiting, so only then is a new one made.
        if self._waiting:
            self._changed.set()
            self._changed = anyio.Event()
            self._waiting = 0

    async def _wait_for_change(self) -> None:
        self._waiting += 1
        await self._changed.wait()

    def _eligible(self, key: ClientKey) -> bool:
        if key in self._settled:
            return True
        if key in self._probing:
            return False
        if self._has_licence(*key):
            self._settled.add(key)
        return True

    async def put(self, job: JobT) -> None:
        """Queue a job, waiting while the window is full.

        A job larger than ``max_bytes`` still gets in once the window is
        empty, so one big receipt cannot stall the run.
        """
        while self._is_full() and not self._stopped:
            await self._wait_for_change()
        if self._stopped:
            return

        key = job.client_key
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque()
        queue.append(job)
        self._size += 1
        self._bytes += job.size
        if len(queue) == 1 and self._eligible(key):
            self._rotation.append(key)
        self._wake()

    async def get(self) -> JobT | None:
        """The next job, round-robin over clients; ``None`` when all is done."""
        while True:
            if self._stopped:
                return None
            if self._rotation:
                return self._take()
            if self._closed and self._size == 0:
                return None
            await self._wait_for_change()

    def _take(self) -> JobT:
        key = self._rotation.popleft()
        queue = self._queues[key]
        job = queue.popleft()
        self._size -= 1
        self._bytes -= job.size
        if key not in self._settled:
            self._probing.add(key)
        elif queue:
            self._rotation.append(key)
        if not queue:
            del self._queues[key]
        self._wake()
        return job

    def done(self, job: JobT) -> None:
        """Tell the scheduler a job has come back, whatever its outcome."""
        key = job.client_key
        if key in self._probing:
            self._probing.discard(key)
            self._settled.add(key)
            if key in self._queues:
                self._rotation.append(key)
            self._wake()

    def close(self) -> None:
        """No more jobs will be put; ``get`` returns ``None`` once drained."""
        self._closed = True
        self._wake()

    def stop(self) -> None:
        """Hand out nothing more; queued jobs are dropped (the next run sends them)."""
        self._stopped = True
        self._wake()
