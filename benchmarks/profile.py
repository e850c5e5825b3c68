"""Profile one contender of the throughput run with py-spy, as evidence for a miss.

    .venv/bin/pip install py-spy            # not a project dependency
    .venv/bin/python -m benchmarks.profile uploader --gil
    .venv/bin/python -m benchmarks.profile raw --gil

Starts the simulator process (20 ms latency), gives the uploader a journal
that already holds the licence tokens, runs the contender over the
throughput set under ``py-spy record`` and prints where its samples fell:
by function (self) and by caller (inclusive). ``--gil`` counts only samples
that hold the GIL, which is close to Python CPU time.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from ._contenders import client_environment, uploader_argv
from ._datasets import folder_set, make_clients
from ._options import FULL, HERE
from ._server import SimulatorProcess

_LINE_NUMBER = re.compile(r":\d+\)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("contender", choices=("uploader", "raw"))
    parser.add_argument(
        "--gil", action="store_true", help="only samples holding the GIL"
    )
    parser.add_argument("--receipts", type=int, default=FULL.receipts)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        print("py-spy is not installed: .venv/bin/pip install py-spy", file=sys.stderr)
        return 2

    data = HERE / "out" / "data"
    clients = make_clients(data, 8)
    receipts = folder_set(data, "throughput", args.receipts, clients)
    with (
        tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp,
        SimulatorProcess() as server,
    ):
        server.configure(latency=args.latency)
        state = Path(tmp, "state.sqlite")
        warm = folder_set(data, "warm", len(clients.ids), clients)
        subprocess.run(
            uploader_argv(server.url, warm, clients, state, concurrency=32),
            env=client_environment(),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        if args.contender == "uploader":
            argv = uploader_argv(server.url, receipts, clients, state, concurrency=32)
        else:
            argv = [
                sys.executable,
                str(HERE / "baseline_aiohttp.py"),
                str(receipts.sources[0]),
                "--url",
                server.url,
                "--clients",
                str(clients.file),
                "--concurrency",
                "32",
            ]
        server.reset()
        stacks = Path(tmp, "stacks.txt")
        record = [
            py_spy,
            "record",
            "--format",
            "raw",
            "--rate",
            "250",
            "--output",
            str(stacks),
        ]
        if args.gil:
            record.append("--gil")
        subprocess.run(
            [*record, "--", *argv],
            env=client_environment(),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        print(
            f"{args.contender}: the simulator accepted "
            f"{server.stats()['accepted']:,} receipts"
        )
        _print_profile(stacks, args.top)
    return 0


def _print_profile(stacks: Path, top: int) -> None:
    own: Counter[str] = Counter()
    within: Counter[str] = Counter()
    total = 0
    for line in stacks.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        samples = int(count)
        total += samples
        frames = [_LINE_NUMBER.sub(")", frame) for frame in stack.split(";")]
        own[frames[-1]] += samples
        for frame in set(frames):
            within[frame] += samples
    print(f"{total} samples\n\nself:")
    for frame, samples in own.most_common(top):
        print(f"  {samples / total:6.1%}  {frame}")
    print("\ninclusive:")
    for frame, samples in within.most_common(top):
        print(f"  {samples / total:6.1%}  {frame}")


if __name__ == "__main__":
    sys.exit(main())
