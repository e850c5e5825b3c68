"""Measurements 1, 2 and 3: CPU per receipt, throughput, latency-bound rate.

Every contender runs ``repeat`` times, in turns (uploader, raw loop,
sequential loop, xargs + curl, then again), so that noise from whatever
else runs on the machine hits them alike; each figure is the contender's
best run.
"""

from __future__ import annotations

from collections.abc import Callable

from ._contenders import Run, curl_run, raw_run, sequential_run
from ._context import Context, format_rate
from ._datasets import ReceiptSet, folder_set
from ._results import Row, failed, info, judged

__all__ = ["bound_part", "throughput_part"]

# The simulator serving one core's worth of requests is the bottleneck.
_SATURATED_CORES = 0.9


def throughput_part(ctx: Context) -> None:
    o = ctx.options
    receipts = folder_set(ctx.data, "throughput", o.receipts, ctx.clients)
    latency = o.latency
    ctx.say(
        f"1-2. throughput: {o.receipts:,} receipts, {latency * 1000:.0f} ms latency, "
        f"concurrency {o.concurrency}, best of {o.repeat}"
    )
    ctx.server.configure(latency=latency, latency_jitter=0.0, upload_rate_limit=None)
    contenders: dict[str, Callable[[], Run]] = {
        "uploader": lambda: ctx.uploader("throughput", receipts, latency=latency),
        "raw": lambda: ctx.keep(
            "throughput",
            raw_run(
                ctx.server,
                receipts,
                ctx.clients,
                count=o.receipts,
                concurrency=o.concurrency,
                latency=latency,
                timeout=ctx.timeout(o.receipts),
            ),
        ),
        "sequential": lambda: ctx.keep(
            "throughput",
            sequential_run(
                ctx.server,
                receipts,
                ctx.clients,
                latency=latency,
                count=min(o.sequential_receipts, o.receipts),
                timeout=ctx.timeout(o.sequential_receipts),
            ),
        ),
        "curl": lambda: ctx.keep(
            "throughput",
            curl_run(
                ctx.server,
                receipts,
                ctx.clients,
                count=min(o.curl_receipts, o.receipts),
                concurrency=o.concurrency,
                latency=latency,
                timeout=ctx.timeout(o.curl_receipts),
            ),
        ),
    }
    runs = _take_turns(contenders, o.repeat)
    _note_saturation(ctx, "1-2", runs)
    ctx.results.rows.extend(_cpu_rows(runs))
    ctx.results.rows.extend(_rate_rows(runs, latency))
    ctx.results.rows.append(_rerun_row(ctx, receipts))


def bound_part(ctx: Context) -> None:
    o = ctx.options
    receipts = folder_set(ctx.data, "bound", o.bound_receipts, ctx.clients)
    latency = o.bound_latency
    ideal = o.concurrency / latency
    ctx.say(
        f"3. latency-bound: {o.bound_receipts:,} receipts, {latency * 1000:.0f} ms "
        f"latency, concurrency {o.concurrency} (ideal {format_rate(ideal)})"
    )
    ctx.server.configure(latency=latency, latency_jitter=0.0, upload_rate_limit=None)
    contenders: dict[str, Callable[[], Run]] = {
        "uploader": lambda: ctx.uploader("bound", receipts, latency=latency),
        "raw": lambda: ctx.keep(
            "bound",
            raw_run(
                ctx.server,
                receipts,
                ctx.clients,
                count=o.bound_receipts,
                concurrency=o.concurrency,
                latency=latency,
                timeout=ctx.timeout(o.bound_receipts),
            ),
        ),
    }
    runs = _take_turns(contenders, o.repeat)
    _note_saturation(ctx, "3", runs)
    name = "latency-bound efficiency (rate / (concurrency / latency))"
    bad = _failure(runs["uploader"])
    if bad:
        ctx.results.rows.append(failed(3, name, bad, ">= 0.90"))
        return
    rate = max(run.rate for run in runs["uploader"])
    raw = _good(runs["raw"])
    raw_text = (
        f"raw loop {max(r.rate for r in raw) / ideal:.2f}" if raw else "raw loop failed"
    )
    ctx.results.rows.append(
        judged(
            3,
            name,
            uploader=format_rate(rate),
            baseline=f"ideal {format_rate(ideal)}; {raw_text}",
            value=rate / ideal,
            shown=f"{rate / ideal:.2f}",
            comparison=">=",
            threshold=0.90,
            target=">= 0.90",
        )
    )


def _take_turns(
    contenders: dict[str, Callable[[], Run]], repeat: int
) -> dict[str, list[Run]]:
    runs: dict[str, list[Run]] = {name: [] for name in contenders}
    for _ in range(repeat):
        for name, start in contenders.items():
            run = start()
            run.arrivals = []
            runs[name].append(run)
    return runs


def _good(runs: list[Run]) -> list[Run]:
    return [run for run in runs if run.failure is None]


def _failure(runs: list[Run]) -> str | None:
    """Why none of these runs counts; None when at least one went right."""
    if _good(runs):
        return None
    return runs[0].failure if runs else "not run"


def _note_saturation(ctx: Context, part: str, runs: dict[str, list[Run]]) -> None:
    busiest = max(
        (run for group in runs.values() for run in group),
        key=lambda run: run.server_share,
        default=None,
    )
    if busiest is not None and busiest.server_share >= _SATURATED_CORES:
        ctx.results.notes.append(
            f"Part {part}: the simulator used {busiest.server_share:.2f} cores "
            f"while serving the {busiest.contender} at {format_rate(busiest.rate)}: "
            "one Python process is near its limit there, so that figure is "
            "bounded by the server, not by the client."
        )


def _cpu_rows(runs: dict[str, list[Run]]) -> list[Row]:
    name = "client CPU per receipt (uploader / raw loop)"
    bad = _failure(runs["uploader"]) or _failure(runs["raw"])
    if bad:
        return [failed(1, name, bad, "<= 1.25x")]

    def best(key: str) -> float:
        return min(run.cpu_per_receipt for run in _good(runs[key]))

    uploader, raw = best("uploader"), best("raw")
    rows = [
        judged(
            1,
            name,
            uploader=_ms(uploader),
            baseline=f"raw loop {_ms(raw)}",
            value=uploader / raw,
            shown=f"{uploader / raw:.2f}x",
            comparison="<=",
            threshold=1.25,
            target="<= 1.25x",
        )
    ]
    for key, label in (("sequential", "sequential loop"), ("curl", "xargs + curl")):
        if _good(runs[key]):
            other = best(key)
            rows.append(
                info(
                    1,
                    f"client CPU per receipt (uploader / {label})",
                    uploader=_ms(uploader),
                    baseline=f"{label} {_ms(other)}",
                    shown=f"{uploader / other:.2f}x",
                )
            )
    return rows


def _rerun_row(ctx: Context, receipts: ReceiptSet) -> Row:
    """What a nightly rerun over receipts that were all sent costs.

    Not among the turns above: its first run would give the uploader one
    more chance at the best figure than the baselines had.
    """
    name = "client CPU per receipt, rerun with nothing to send"
    _, rerun = ctx.uploader_runs(
        "throughput", receipts, latency=ctx.options.latency, times=2
    )
    if rerun.failure:
        return failed(1, name, rerun.failure)
    per_receipt = rerun.cost.cpu / receipts.count
    return info(
        1,
        name,
        uploader=_ms(per_receipt),
        baseline="-",
        shown=_ms(per_receipt),
        note="read, hash and look up every receipt in the journal; send none",
    )


def _rate_rows(runs: dict[str, list[Run]], latency: float) -> list[Row]:
    rows = []
    uploader_failure = _failure(runs["uploader"])
    for key, label, threshold in (
        ("raw", "raw loop", 0.90),
        ("sequential", "sequential loop", 20.0),
        ("curl", "xargs + curl", 5.0),
    ):
        name = f"throughput at {latency * 1000:.0f} ms (uploader / {label})"
        target = f">= {threshold:g}x"
        bad = uploader_failure or _failure(runs[key])
        if bad:
            rows.append(failed(2, name, bad, target))
            continue
        uploader = max(run.rate for run in _good(runs["uploader"]))
        other = max(run.rate for run in _good(runs[key]))
        rows.append(
            judged(
                2,
                name,
                uploader=format_rate(uploader),
                baseline=f"{label} {format_rate(other)}",
                value=uploader / other,
                shown=f"{uploader / other:.2f}x",
                comparison=">=",
                threshold=threshold,
                target=target,
            )
        )
    return rows


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms"
