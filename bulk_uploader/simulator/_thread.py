"""The simulator on its own event loop in a daemon thread, for sync callers."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future
from types import TracebackType
from typing import Self, TypeVar

from ..clock import Clock
from ._config import SimulatorConfig
from ._server import Simulator
from ._stats import ReceivedReceipt, SimulatorStats

__all__ = ["SimulatorThread"]

_T = TypeVar("_T")
_START_TIMEOUT = 30.0


class SimulatorThread:
    """``Simulator`` for synchronous code and for tests that run a subprocess.

    Every method hands its work to the simulator's loop and waits for the
    answer, so it is safe from any thread. ``config`` is the live object:
    changing a field takes effect from the next request.
    """

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
    ) -> None:
        self._simulator = Simulator(config, host=host, port=port, clock=clock)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None

    def __repr__(self) -> str:
        return f"SimulatorThread({self._simulator!r})"

    @property
    def url(self) -> str:
        return self._simulator.url

    @property
    def config(self) -> SimulatorConfig:
        return self._simulator.config

    def __enter__(self) -> Self:
        started: Future[None] = Future()
        self._thread = threading.Thread(
            target=self._run, args=(started,), name="simulator", daemon=True
        )
        self._thread.start()
        started.result(timeout=_START_TIMEOUT)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        loop, stop, thread = self._loop, self._stop, self._thread
        if loop is not None and stop is not None and thread is not None:
            loop.call_soon_threadsafe(stop.set)
            thread.join()

    def stats(self) -> SimulatorStats:
        return self._call(self._simulator.stats)

    def received(self) -> list[ReceivedReceipt]:
        return self._call(self._simulator.received)

    def reset(self) -> None:
        self._call(self._simulator.reset)

    def revoke(self, client_id: str | None = None) -> None:
        self._call(lambda: self._simulator.revoke(client_id))

    def _call(self, function: Callable[[], _T]) -> _T:
        loop = self._loop
        if loop is None:
            raise RuntimeError("the simulator thread is not running")

        async def on_loop() -> _T:
            return function()

        return asyncio.run_coroutine_threadsafe(on_loop(), loop).result()

    def _run(self, started: Future[None]) -> None:
        try:
            asyncio.run(self._serve(started))
        except BaseException as exc:
            # Startup failed before the waiting thread was told: tell it now.
            if not started.done():
                started.set_exception(exc)
            else:
                raise

    async def _serve(self, started: Future[None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with self._simulator:
            started.set_result(None)
            await self._stop.wait()
