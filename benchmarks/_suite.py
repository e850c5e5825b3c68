"""The whole suite: prepare, run each part, print the table, write it down."""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable, Sequence

from ._chart import draw_rate_chart
from ._contenders import scratch
from ._context import Context
from ._datasets import make_clients
from ._licence import licence_part
from ._options import Options, parse_options
from ._rate import rate_part
from ._report import machine, write_json, write_markdown
from ._results import Results, failed, render_table
from ._scale import scale_part
from ._server import SimulatorProcess
from ._throughput import bound_part, throughput_part

__all__ = ["main"]

_PARTS: dict[str, tuple[int, Callable[[Context], None]]] = {
    "licence": (6, licence_part),
    "throughput": (2, throughput_part),
    "bound": (3, bound_part),
    "rate": (4, rate_part),
    "scale": (5, scale_part),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite; 1 when a run failed (never for a missed target)."""
    options = parse_options(argv)
    facts = machine()
    results = Results()
    began = time.monotonic()
    clients = make_clients(options.out / "data", options.clients)
    with SimulatorProcess() as server, scratch(options.out / "runs") as folder:
        ctx = Context(options, server, clients, results, folder)
        ctx.say(f"simulator at {server.url} (pid {server.pid})")
        # Every other part starts from the journal the licence runs leave.
        wanted = ["licence", *(p for p in options.parts if p != "licence")]
        for part in wanted:
            _run_part(ctx, part)
    ctx.say(f"done in {time.monotonic() - began:,.0f} s\n")

    results.rows.sort(key=lambda row: row.number)
    print(render_table(results.rows))
    for note in results.notes:
        print(f"\n{note}")
    _write(options, facts, results)
    if results.errors:
        print(f"\n{len(results.errors)} measurement(s) could not be made.")
        return 1
    if options.quick:
        print(
            "\n--quick: the sizes are too small for these figures to mean "
            "anything; it only proves that every part runs."
        )
    elif results.misses:
        print(f"\n{len(results.misses)} target(s) missed: see MISS above.")
    return 0


def _run_part(ctx: Context, part: str) -> None:
    number, run = _PARTS[part]
    try:
        run(ctx)
    except Exception as exc:
        # One broken part must not hide the figures of the others.
        traceback.print_exc()
        ctx.results.rows.append(failed(number, part, repr(exc)[:300]))


def _write(options: Options, facts: dict[str, object], results: Results) -> None:
    series = {k: v for k, v in results.series.items() if isinstance(v, dict)}
    if options.write:
        folder = options.results_dir
        chart = folder / "rate.png" if series else None
    else:
        # The chart is still drawn (so --quick proves it can be), in scratch.
        folder = options.out
        chart = options.out / "rate.png" if series else None
    folder.mkdir(parents=True, exist_ok=True)
    if chart is not None:
        draw_rate_chart(series, options.rate, chart)
    write_json(folder / "results.json", options, facts, results)
    if options.write:
        write_markdown(folder / "RESULTS.md", options, facts, results, chart)
        print(
            f"\nWrote {folder / 'RESULTS.md'}, results.json"
            + (", rate.png" if chart else ""),
            file=sys.stderr,
        )
