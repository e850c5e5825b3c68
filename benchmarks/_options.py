"""The suite's options: sizes, latencies, rates, and which parts to run."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["FULL", "PARTS", "QUICK", "Options", "parse_options"]

PARTS = ("licence", "throughput", "bound", "rate", "scale")
HERE = Path(__file__).parent


@dataclass(frozen=True)
class _Sizes:
    receipts: int
    sequential_receipts: int
    curl_receipts: int
    bound_receipts: int
    rate_receipts: int
    rate: float
    scale_sizes: tuple[int, ...]
    repeat: int


FULL = _Sizes(
    20_000, 1_500, 5_000, 12_000, 4_000, 200.0, (10_000, 100_000, 1_000_000), 3
)
# --quick only proves that every part runs; its figures mean nothing.
QUICK = _Sizes(300, 40, 100, 300, 300, 100.0, (500, 2_000), 1)


@dataclass(frozen=True, kw_only=True)
class Options:
    """Every knob of one invocation, with the defaults resolved."""

    quick: bool
    write: bool
    receipts: int
    sequential_receipts: int
    curl_receipts: int
    bound_receipts: int
    rate_receipts: int
    rate: float
    scale_sizes: tuple[int, ...]
    repeat: int
    concurrency: int
    clients: int
    latency: float
    bound_latency: float
    rate_latency: float
    parts: tuple[str, ...]
    out: Path
    results_dir: Path


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part.replace("_", "")) for part in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: expected N[,N...]") from exc
    if not sizes or min(sizes) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: sizes must be positive")
    return tuple(sorted(sizes))


def _parts(text: str) -> tuple[str, ...]:
    parts = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = set(parts) - set(PARTS)
    if unknown or not parts:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(PARTS)}")
    return parts


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure bulk-uploader against plain baselines (issue 6).",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes: prove that every part runs (CI)",
    )
    parser.add_argument(
        "--no-write",
        dest="write",
        action="store_false",
        help="do not update results.json, RESULTS.md, rate.png",
    )
    sizes = parser.add_argument_group("sizes (defaults: full suite / --quick)")
    for name, help_text in (
        ("receipts", "receipts for the uploader and raw loop (1, 2)"),
        ("sequential-receipts", "receipts for the sequential loop (1, 2)"),
        ("curl-receipts", "receipts for xargs + curl (2)"),
        ("bound-receipts", "receipts for the latency-bound runs (3)"),
        ("rate-receipts", "receipts for each rate-fidelity run (4)"),
        ("repeat", "runs of each contender in 1-3; the best counts"),
    ):
        key = name.replace("-", "_")
        full, quick = getattr(FULL, key), getattr(QUICK, key)
        sizes.add_argument(
            f"--{name}", type=int, metavar="N", help=f"{help_text} ({full} / {quick})"
        )
    full_sizes = ",".join(map(str, FULL.scale_sizes))
    quick_sizes = ",".join(map(str, QUICK.scale_sizes))
    sizes.add_argument(
        "--scale-sizes",
        type=_sizes,
        metavar="N,N,...",
        help="receipts in zip files for the scale runs (5) "
        f"({full_sizes} / {quick_sizes})",
    )
    knobs = parser.add_argument_group("conditions")
    knobs.add_argument(
        "--rate",
        type=float,
        metavar="R",
        help="the simulator's upload limit in 4 (200 / 100)",
    )
    knobs.add_argument(
        "--concurrency",
        type=int,
        default=32,
        metavar="N",
        help="uploads in flight, every contender (32)",
    )
    knobs.add_argument(
        "--clients",
        type=int,
        default=8,
        metavar="N",
        help="POS clients in every receipt set (8)",
    )
    knobs.add_argument(
        "--latency",
        type=float,
        default=0.02,
        metavar="S",
        help="server latency in 1 and 2 (0.02)",
    )
    knobs.add_argument(
        "--bound-latency",
        type=float,
        default=0.05,
        metavar="S",
        help="server latency in 3 (0.05)",
    )
    knobs.add_argument(
        "--rate-latency",
        type=float,
        default=0.02,
        metavar="S",
        help="server latency in 4 (0.02)",
    )
    parser.add_argument(
        "--only",
        type=_parts,
        default=PARTS,
        metavar="PART,...",
        help=f"run only these parts: {', '.join(PARTS)}",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=HERE / "out",
        metavar="DIR",
        help="scratch space and cached receipt sets (benchmarks/out)",
    )
    return parser


def parse_options(argv: Sequence[str] | None = None) -> Options:
    args = _build_parser().parse_args(argv)
    defaults = QUICK if args.quick else FULL

    def size(name: str) -> Any:
        given = getattr(args, name)
        return given if given is not None else getattr(defaults, name)

    return Options(
        quick=args.quick,
        write=args.write,
        receipts=size("receipts"),
        sequential_receipts=size("sequential_receipts"),
        curl_receipts=size("curl_receipts"),
        bound_receipts=size("bound_receipts"),
        rate_receipts=size("rate_receipts"),
        rate=float(size("rate")),
        scale_sizes=size("scale_sizes"),
        repeat=size("repeat"),
        concurrency=args.concurrency,
        clients=args.clients,
        latency=args.latency,
        bound_latency=args.bound_latency,
        rate_latency=args.rate_latency,
        parts=args.only,
        out=args.out,
        results_dir=HERE,
    )
