"""Measurement 4: rate fidelity against a server that allows R uploads a second.

Two uploader runs: with ``--rate R`` (it must stay just under R and never
be refused), and without a ceiling (it must find R by itself from the
429 answers, losing little time and sending few refused requests). The
accepted receipts per second come from the simulator's arrival times; the
429 answers per second from its counters, read every half second.
"""

from __future__ import annotations

import math
import time

from ._contenders import Run
from ._context import Context, format_rate
from ._datasets import folder_set
from ._results import failed, judged

__all__ = ["rate_part"]


class _RefusalWatch:
    """Samples the simulator's count of 429 answers while a run goes on."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self.samples: list[tuple[float, int]] = []

    def __call__(self) -> None:
        stats = self._ctx.server.stats()
        refused = int(stats.get("calls", {}).get("upload", {}).get("429", 0))
        self.samples.append((time.time(), refused))


def rate_part(ctx: Context) -> None:
    o = ctx.options
    limit = o.rate
    receipts = folder_set(ctx.data, "rate", o.rate_receipts, ctx.clients)
    ctx.say(
        f"4. rate fidelity: simulator limit {format_rate(limit)}, "
        f"{o.rate_receipts:,} receipts a run, {o.rate_latency * 1000:.0f} ms latency"
    )
    ctx.server.configure(
        latency=o.rate_latency, latency_jitter=0.0, upload_rate_limit=limit
    )
    try:
        for mode, ceiling in (("fixed", limit), ("adaptive", None)):
            watch = _RefusalWatch(ctx)
            run = ctx.uploader(
                f"rate-{mode}",
                receipts,
                latency=o.rate_latency,
                rate=ceiling,
                on_tick=watch,
            )
            ctx.results.series[mode] = _series(run, watch.samples)
            if mode == "fixed":
                _fixed_rows(ctx, run, limit)
            else:
                _adaptive_rows(ctx, run, limit)
    finally:
        ctx.server.configure(upload_rate_limit=None)


def _fixed_rows(ctx: Context, run: Run, limit: float) -> None:
    rows = ctx.results.rows
    name = f"rate with --rate {limit:g} (achieved / R)"
    refusals = f"429 answers with --rate {limit:g}"
    if run.failure:
        rows.append(failed(4, name, run.failure, ">= 0.97"))
        rows.append(failed(4, refusals, run.failure, "= 0"))
        return
    refused = run.upload_calls("429")
    rows.append(
        judged(
            4,
            name,
            uploader=format_rate(run.rate),
            baseline=f"R = {format_rate(limit)}",
            value=run.rate / limit,
            shown=f"{run.rate / limit:.3f}",
            comparison=">=",
            threshold=0.97,
            target=">= 0.97",
        )
    )
    rows.append(
        judged(
            4,
            refusals,
            uploader=f"{refused} of {run.upload_calls():,} requests",
            baseline="-",
            value=refused,
            shown=str(refused),
            comparison="==",
            threshold=0,
            target="= 0",
        )
    )


def _adaptive_rows(ctx: Context, run: Run, limit: float) -> None:
    rows = ctx.results.rows
    name = "rate without a ceiling, adaptive (achieved / R)"
    refusals = "share of requests answered 429, adaptive"
    if run.failure:
        rows.append(failed(4, name, run.failure, ">= 0.85"))
        rows.append(failed(4, refusals, run.failure, "<= 2%"))
        return
    refused, requests = run.upload_calls("429"), run.upload_calls()
    share = refused / requests if requests else 0.0
    rows.append(
        judged(
            4,
            name,
            uploader=format_rate(run.rate),
            baseline=f"R = {format_rate(limit)}",
            value=run.rate / limit,
            shown=f"{run.rate / limit:.3f}",
            comparison=">=",
            threshold=0.85,
            target=">= 0.85",
        )
    )
    rows.append(
        judged(
            4,
            refusals,
            uploader=f"{refused} of {requests:,} requests",
            baseline="-",
            value=share,
            shown=f"{share:.1%}",
            comparison="<=",
            threshold=0.02,
            target="<= 2%",
        )
    )


def _series(run: Run, samples: list[tuple[float, int]]) -> dict[str, list[float]]:
    """Per-second accepted receipts and 429 answers, from the process start."""
    start = run.cost.started_at
    seconds = max(1, math.ceil(run.cost.wall))
    accepted = [0.0] * seconds
    for arrival in run.arrivals:
        index = int(arrival - start)
        if 0 <= index < seconds:
            accepted[index] += 1
    refused = [0.0] * seconds
    # Each sample's new refusals count in the second it was taken; those
    # after the last sample, in the last second.
    counted = 0
    for when, count in samples:
        index = min(seconds - 1, max(0, int(when - start)))
        refused[index] += count - counted
        counted = count
    refused[-1] += run.upload_calls("429") - counted
    run.arrivals = []
    return {"accepted": accepted, "refused": refused}
