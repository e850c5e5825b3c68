"""What every part of the suite shares: options, the simulator, the clients."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ._contenders import Run, copy_state, scratch, uploader_run
from ._datasets import Clients, ReceiptSet
from ._options import Options
from ._results import Results
from ._server import SimulatorProcess

__all__ = ["Context", "format_rate", "format_seconds"]

# A contender slower than this is broken, not slow: give up on it.
_SLOWEST_RATE = 20.0
_GRACE_SECONDS = 120.0


@dataclass
class Context:
    options: Options
    server: SimulatorProcess
    clients: Clients
    results: Results
    # This invocation's own folder for journals: invocations may run side by
    # side in one tree, and a journal holds tokens of one simulator only.
    scratch_root: Path
    warm_state: Path | None = None

    @property
    def data(self) -> Path:
        return self.options.out / "data"

    def say(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def timeout(self, count: int) -> float:
        return count / _SLOWEST_RATE + _GRACE_SECONDS

    def keep(self, part: str, run: Run) -> Run:
        """Record a run in results.json and tell the console how it went."""
        summary = run.summary()
        self.results.runs.append({"part": part, **summary})
        state = run.failure or (
            f"{run.accepted:,} receipts, {format_rate(run.rate)}, "
            f"CPU {run.cpu_per_receipt * 1000:.3f} ms/receipt, "
            f"RSS {run.cost.peak_rss / 2**20:.0f} MB, "
            f"simulator {run.server_share:.2f} cores"
        )
        self.say(f"  {part}: {run.contender}: {state}")
        return run

    def uploader(
        self,
        part: str,
        receipts: ReceiptSet,
        *,
        latency: float,
        rate: float | None = None,
        cold: bool = False,
        on_tick: Callable[[], None] | None = None,
    ) -> Run:
        """One uploader run on a copy of the warm journal (or a new one)."""
        return self.uploader_runs(
            part, receipts, latency=latency, rate=rate, cold=cold, on_tick=on_tick
        )[0]

    def uploader_runs(
        self,
        part: str,
        receipts: ReceiptSet,
        *,
        latency: float,
        rate: float | None = None,
        cold: bool = False,
        on_tick: Callable[[], None] | None = None,
        times: int = 1,
    ) -> list[Run]:
        """``times`` uploader runs over one journal: the first sends, later ones
        find everything done."""
        runs = []
        with scratch(self.scratch_root) as folder:
            state = folder / "state.sqlite"
            if not cold:
                if self.warm_state is None:
                    raise RuntimeError("no journal with licence tokens yet")
                copy_state(self.warm_state, state)
            for attempt in range(times):
                run = uploader_run(
                    self.server,
                    receipts,
                    self.clients,
                    state,
                    concurrency=self.options.concurrency,
                    latency=latency,
                    timeout=self.timeout(receipts.count),
                    rate=rate,
                    on_tick=on_tick,
                )
                if attempt:
                    run.expected = 0
                runs.append(self.keep(part if not attempt else f"{part}-rerun", run))
        for run in runs:
            if not cold and run.licence_calls():
                self.results.notes.append(
                    f"Part {part}: the uploader made {run.licence_calls()} licence "
                    "calls although its journal held a token for every client "
                    f"(uploads answered 401: {run.upload_calls('401')})."
                )
        return runs


def format_rate(rate: float) -> str:
    return f"{rate:,.0f}/s"


def format_seconds(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:,.2f} s"
