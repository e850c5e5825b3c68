"""Measurement 6: licence calls, first run and second run.

The journal of these two runs then holds a licence token for every client;
the other parts start each uploader run from a copy of it, as a nightly
run would, so their figures are about uploading, not about the cautious
pace of the licence endpoint.
"""

from __future__ import annotations

from ._contenders import uploader_run
from ._context import Context
from ._datasets import folder_set
from ._results import failed, judged

__all__ = ["licence_part"]

_NAME = "licence calls"


def licence_part(ctx: Context) -> None:
    clients = len(ctx.clients.ids)
    ctx.say(f"6. licence calls: two runs over {clients} clients")
    # One receipt per client, named apart from every other set.
    receipts = folder_set(ctx.data, "warm", clients, ctx.clients)
    state = ctx.scratch_root / "warm.sqlite"
    ctx.server.configure(latency=0.0, latency_jitter=0.0, upload_rate_limit=None)

    runs = []
    for expected in (receipts.count, 0):
        run = uploader_run(
            ctx.server,
            receipts,
            ctx.clients,
            state,
            concurrency=ctx.options.concurrency,
            latency=0.0,
            timeout=ctx.timeout(receipts.count),
        )
        run.expected = expected
        runs.append(ctx.keep("licence", run))

    rows = ctx.results.rows
    first, second = runs
    for which, run, wanted in (("first", first, clients), ("second", second, 0)):
        measurement = f"{_NAME}, {which} run"
        if run.failure:
            rows.append(failed(6, measurement, run.failure, f"= {wanted}"))
            continue
        calls = run.licence_calls()
        rows.append(
            judged(
                6,
                measurement,
                uploader=f"{calls} calls",
                baseline=f"{clients} clients",
                value=calls,
                shown=str(calls),
                comparison="==",
                threshold=wanted,
                target=f"= {wanted}",
            )
        )
    if not first.failure:
        ctx.warm_state = state
