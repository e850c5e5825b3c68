"""The rate-fidelity chart: requests per second over time against the limit."""

from __future__ import annotations

from pathlib import Path

__all__ = ["draw_rate_chart"]

_TITLES = {
    "fixed": "with --rate R",
    "adaptive": "no ceiling (adaptive, slows down on 429)",
}


def draw_rate_chart(
    series: dict[str, dict[str, list[float]]], limit: float, path: Path
) -> None:
    """Write a PNG with one panel per run: accepted and 429 per second."""
    # Imported here: only this step needs matplotlib, and Agg needs no screen.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = [mode for mode in _TITLES if mode in series]
    figure, axes = plt.subplots(
        len(modes), 1, figsize=(9, 3.2 * len(modes)), sharex=True, squeeze=False
    )
    for axis, mode in zip(axes[:, 0], modes, strict=True):
        accepted = series[mode]["accepted"]
        refused = series[mode]["refused"]
        edges = list(range(len(accepted) + 1))
        axis.stairs(accepted, edges, label="accepted / s", linewidth=1.5)
        axis.stairs(refused, edges, label="answered 429 / s", linewidth=1.5)
        axis.axhline(limit, color="black", linestyle="--", linewidth=1, label="R")
        axis.set_title(_TITLES[mode])
        axis.set_ylabel("requests per second")
        axis.set_ylim(bottom=0, top=1.1 * max([limit * 1.2, *accepted, *refused]))
        axis.grid(alpha=0.3)
        axis.legend(loc="lower right", fontsize="small")
    axes[-1, 0].set_xlabel("seconds since the uploader started")
    figure.suptitle(f"Rate fidelity: simulator limit R = {limit:g} uploads/s")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
