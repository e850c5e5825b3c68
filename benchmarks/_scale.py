"""Measurement 5: memory and start-up as the number of receipts grows.

Each size is a set of zip files of small receipts, uploaded from a new
journal (a first run: logon and licence tokens included) at no server
latency. Peak RSS is the kernel's high-water mark of the process
(``wait4``), not a sample; the first upload is the arrival of the first
receipt at the simulator minus the moment the process was started.
"""

from __future__ import annotations

from ._context import Context, format_rate, format_seconds
from ._datasets import zip_set
from ._results import failed, info, judged

__all__ = ["scale_part"]

_RSS_LIMIT_MB = 200.0
_RSS_GROWTH = 1.5
_FIRST_UPLOAD_S = 2.0
_MB = 2**20


def scale_part(ctx: Context) -> None:
    sizes = ctx.options.scale_sizes
    ctx.say(f"5. scale: {', '.join(f'{n:,}' for n in sizes)} receipts in zip files")
    ctx.server.configure(latency=0.0, latency_jitter=0.0, upload_rate_limit=None)
    rows = ctx.results.rows
    peaks: dict[int, float] = {}
    for size in sizes:
        ctx.say(f"  preparing {size:,} receipts (cached under {ctx.data})")
        receipts = zip_set(ctx.data, f"zip{size}", size, ctx.clients)
        run = ctx.uploader("scale", receipts, latency=0.0, cold=True)
        label = f"{size:,} receipts"
        if run.failure:
            rows.append(failed(5, f"scale, {label}", run.failure))
            continue
        rss = run.cost.peak_rss / _MB
        peaks[size] = rss
        rows.append(
            info(
                5,
                f"peak RSS, {label}",
                uploader=f"{rss:.0f} MB",
                baseline=f"{format_rate(run.rate)}, {format_seconds(run.cost.wall)}",
                shown=f"{rss:.0f} MB",
            )
        )
        rows.append(
            judged(
                5,
                f"first upload after start, {label}",
                uploader=format_seconds(run.first_upload),
                baseline="-",
                value=run.first_upload,
                shown=format_seconds(run.first_upload),
                comparison="<=",
                threshold=_FIRST_UPLOAD_S,
                target=f"<= {_FIRST_UPLOAD_S:g} s",
            )
        )

    largest, smallest = sizes[-1], sizes[0]
    if largest in peaks:
        rows.append(
            judged(
                5,
                f"peak RSS at {largest:,} receipts",
                uploader=f"{peaks[largest]:.0f} MB",
                baseline="-",
                value=peaks[largest],
                shown=f"{peaks[largest]:.0f} MB",
                comparison="<=",
                threshold=_RSS_LIMIT_MB,
                target=f"<= {_RSS_LIMIT_MB:.0f} MB",
            )
        )
    if largest in peaks and smallest in peaks and largest != smallest:
        growth = peaks[largest] / peaks[smallest]
        rows.append(
            judged(
                5,
                f"peak RSS growth, {largest:,} / {smallest:,} receipts",
                uploader=f"{peaks[largest]:.0f} MB",
                baseline=f"{peaks[smallest]:.0f} MB",
                value=growth,
                shown=f"{growth:.2f}x",
                comparison="<=",
                threshold=_RSS_GROWTH,
                target=f"<= {_RSS_GROWTH:g}x",
            )
        )
