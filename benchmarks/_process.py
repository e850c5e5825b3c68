"""Running one contender as a child process and measuring what it cost.

The child is reaped with ``os.wait4``, whose resource usage covers exactly
that child and the descendants it waited for (``xargs`` and its ``curl``
processes), so nothing else on the machine is counted.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ProcessCost", "run_measured"]

_POLL_SECONDS = 0.02
_KIB = 1024


@dataclass(frozen=True)
class ProcessCost:
    """What one run of a child process took."""

    argv: tuple[str, ...]
    returncode: int
    started_at: float
    wall: float
    cpu_user: float
    cpu_system: float
    peak_rss: int
    stdout: str
    stderr: str
    timed_out: bool

    @property
    def cpu(self) -> float:
        return self.cpu_user + self.cpu_system

    def describe_failure(self) -> str:
        """A short account of a failed run for the table and the console."""
        what = "timed out" if self.timed_out else f"exit code {self.returncode}"
        tail = (self.stderr.strip() or self.stdout.strip()).splitlines()[-3:]
        return f"{Path(self.argv[0]).name} {what}: {' / '.join(tail)}"[:300]


def run_measured(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float,
    on_tick: Callable[[], None] | None = None,
    tick_seconds: float = 0.5,
) -> ProcessCost:
    """Run ``argv`` to its end; ``on_tick`` is called while it runs."""
    with tempfile.TemporaryDirectory(prefix="bench-proc-") as tmp:
        out_path, err_path = Path(tmp, "stdout"), Path(tmp, "stderr")
        with out_path.open("wb") as out, err_path.open("wb") as err:
            started_at = time.time()
            begin = time.perf_counter()
            # A session of its own, so a timeout ends the whole group
            # (xargs and its curls) and nothing of ours.
            process = subprocess.Popen(
                list(argv),
                env=dict(env) if env is not None else None,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            status, usage, timed_out = _wait(
                process, begin, timeout, on_tick, tick_seconds
            )
            wall = time.perf_counter() - begin
        process.returncode = os.waitstatus_to_exitcode(status)
        return ProcessCost(
            argv=tuple(argv),
            returncode=process.returncode,
            started_at=started_at,
            wall=wall,
            cpu_user=usage.ru_utime,
            cpu_system=usage.ru_stime,
            peak_rss=usage.ru_maxrss * _KIB,
            stdout=out_path.read_text(errors="replace"),
            stderr=err_path.read_text(errors="replace"),
            timed_out=timed_out,
        )


def _wait(
    process: subprocess.Popen[bytes],
    begin: float,
    timeout: float,
    on_tick: Callable[[], None] | None,
    tick_seconds: float,
) -> tuple[int, resource.struct_rusage, bool]:
    next_tick = begin + tick_seconds
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            return status, usage, False
        now = time.perf_counter()
        if now - begin > timeout:
            os.killpg(process.pid, signal.SIGKILL)
            _, status, usage = os.wait4(process.pid, 0)
            return status, usage, True
        if on_tick is not None and now >= next_tick:
            on_tick()
            next_tick += tick_seconds
        time.sleep(_POLL_SECONDS)
