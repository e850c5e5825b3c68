"""The harness's handle on the simulator process: start, steer, watch its CPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import psutil  # type: ignore[import-untyped]

__all__ = ["SimulatorProcess"]

_SCRIPT = Path(__file__).with_name("simulator_process.py")


class SimulatorProcess:
    """``simulator_process.py`` as a child; one JSON line per command."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self._handle: psutil.Process | None = None
        self.url = ""

    def __enter__(self) -> Self:
        self._process = subprocess.Popen(
            [sys.executable, str(_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._handle = psutil.Process(self._process.pid)
        self.url = self._read()["url"]
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        process = self._process
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("the simulator process is not running")
        return self._process.pid

    def cpu_seconds(self) -> float:
        """User plus system CPU time the simulator has used so far."""
        if self._handle is None:
            raise RuntimeError("the simulator process is not running")
        times = self._handle.cpu_times()
        return float(times.user + times.system)

    def configure(self, **fields: object) -> None:
        self._command({"op": "configure", "fields": fields})

    def reset(self) -> None:
        self._command({"op": "reset"})

    def stats(self) -> dict[str, Any]:
        reply = self._command({"op": "stats"})
        if not isinstance(reply, dict):
            raise RuntimeError(f"unexpected stats answer: {reply!r}")
        return reply

    def arrivals(self) -> list[float]:
        """Arrival times (``time.time()``) of the accepted receipts, in order."""
        reply = self._command({"op": "arrivals"})
        if not isinstance(reply, list):
            raise RuntimeError(f"unexpected arrivals answer: {reply!r}")
        return [float(value) for value in reply]

    def _command(self, command: dict[str, Any]) -> Any:
        process = self._process
        if process is None or process.stdin is None:
            raise RuntimeError("the simulator process is not running")
        process.stdin.write(json.dumps(command) + "\n")
        process.stdin.flush()
        reply = self._read()
        if isinstance(reply, dict) and "error" in reply:
            raise RuntimeError(f"simulator: {reply['error']}")
        return reply

    def _read(self) -> Any:
        process = self._process
        if process is None or process.stdout is None:
            raise RuntimeError("the simulator process is not running")
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("the simulator process exited")
        return json.loads(line)
