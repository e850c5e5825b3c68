"""Writing the results down: the machine, results.json and RESULTS.md."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import asdict
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import psutil  # type: ignore[import-untyped]

from ._options import Options
from ._results import Results, render_table

__all__ = ["machine", "write_json", "write_markdown"]

_LIBRARIES = (
    "bulk_uploader",
    "aiohttp",
    "anyio",
    "yarl",
    "multidict",
    "PyJWT",
    "requests",
    "psutil",
    "matplotlib",
)
# Everything from this heading on is written by people and kept across runs.
_KEPT_HEADING = "## Notes"


def machine() -> dict[str, object]:
    """What the figures were measured on."""
    versions = {}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "curl": " ".join(_first_line(["curl", "--version"]).split()[:2]),
        "commit": _first_line(["git", "describe", "--always", "--dirty"]),
        "libraries": versions,
    }


def write_json(
    path: Path, options: Options, facts: dict[str, object], results: Results
) -> None:
    conditions = {
        k: str(v) if isinstance(v, Path) else v for k, v in asdict(options).items()
    }
    document = {
        "machine": facts,
        "conditions": conditions,
        "rows": [row.to_dict() for row in results.rows],
        "notes": results.notes,
        "runs": results.runs,
        "rate_series": results.series,
    }
    path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")


def write_markdown(
    path: Path,
    options: Options,
    facts: dict[str, object],
    results: Results,
    chart: Path | None,
) -> None:
    """Rewrite RESULTS.md, keeping the hand-written notes at its end."""
    kept = ""
    if path.exists():
        text = path.read_text(encoding="utf-8")
        if _KEPT_HEADING in text:
            kept = text[text.index(_KEPT_HEADING) :]
    libraries = facts["libraries"]
    assert isinstance(libraries, dict)
    lines = [
        "# Benchmark results",
        "",
        "Written by `python -m benchmarks` (see README.md for what each "
        'figure means). Everything above "Notes" is rewritten by the next '
        "full run.",
        "",
        "## Machine",
        "",
        f"- date: {facts['date']}, commit {facts['commit']}",
        f"- CPU: {facts['cpu']}, {facts['cores']} cores; memory "
        f"{facts['memory_gib']} GiB",
        f"- load average when the suite started: {facts['load_average']} "
        "(the machine is shared; other work may have run meanwhile)",
        f"- {facts['python']} on {facts['os']}; {facts['curl']}",
        "- libraries: " + ", ".join(f"{k} {v}" for k, v in libraries.items()),
        "",
        "## Conditions",
        "",
        f"- concurrency {options.concurrency} for every concurrent contender; "
        f"{options.clients} POS clients; each contender run {options.repeat} "
        "times in turns, best run counts",
        f"- 1-2: {options.receipts:,} receipts (sequential loop "
        f"{min(options.sequential_receipts, options.receipts):,}, xargs + curl "
        f"{min(options.curl_receipts, options.receipts):,}), server latency "
        f"{options.latency * 1000:.0f} ms",
        f"- 3: {options.bound_receipts:,} receipts, server latency "
        f"{options.bound_latency * 1000:.0f} ms",
        f"- 4: {options.rate_receipts:,} receipts a run, simulator limit "
        f"{options.rate:g}/s, latency {options.rate_latency * 1000:.0f} ms",
        "- 5: "
        + ", ".join(f"{n:,}" for n in options.scale_sizes)
        + " receipts in zip files of 10,000, no latency, new journal",
        "- 6: one receipt per client, new journal, then the same again",
        "",
        "## Results",
        "",
        render_table(results.rows),
        "",
    ]
    if results.notes:
        lines += ["Observed during the run:", ""]
        lines += [f"- {note}" for note in results.notes] + [""]
    if chart is not None:
        lines += [f"![requests per second against R]({chart.name})", ""]
    body = "\n".join(lines) + "\n"
    path.write_text(
        body + (kept or f"{_KEPT_HEADING}\n\n(none yet)\n"), encoding="utf-8"
    )


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _first_line(argv: list[str]) -> str:
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
            cwd=Path(__file__).parent,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return done.stdout.splitlines()[0] if done.stdout else "unknown"
