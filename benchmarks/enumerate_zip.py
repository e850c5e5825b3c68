"""Peak memory and time to the first receipt while walking a huge zip.

    python benchmarks/enumerate_zip.py                 # 1,000,000 entries
    python benchmarks/enumerate_zip.py --entries 50000 --zipfile

Builds a zip of tiny receipts (1,000 client folders) in a temporary
folder, then walks it with ReceiptSource in a fresh process, reading every
receipt as the uploader does, and prints that process's peak RSS. With
``--zipfile`` it also prints what merely opening the same archive with the
standard library's ``zipfile`` costs, for comparison.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

CLIENTS = 1000


def _peak_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(path: Path, entries: int) -> None:
    """Write ``entries`` two-byte receipts spread over client folders."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for number in range(entries):
            client = f"00000000-0000-4000-8000-{number % CLIENTS:012d}"
            archive.writestr(f"{client}/r-{number:07d}.json", b"{}")


def enumerate_source(path: Path) -> dict[str, float]:
    """Walk the archive, read every receipt, and measure."""
    from bulk_uploader.sources import Receipt, ReceiptSource, SourceOptions

    baseline = _peak_rss_mb()
    started = time.perf_counter()
    source = ReceiptSource([path], SourceOptions(license_id="bench"))
    first = None
    receipts = 0
    for item in source:
        if isinstance(item, Receipt):
            item.read()
            receipts += 1
            if first is None:
                first = time.perf_counter() - started
    return {
        "receipts": receipts,
        "first_receipt_s": first or 0.0,
        "total_s": time.perf_counter() - started,
        "baseline_rss_mb": baseline,
        "peak_rss_mb": _peak_rss_mb(),
    }


def open_with_zipfile(path: Path) -> dict[str, float]:
    """What zipfile alone needs before it can hand out the first member."""
    baseline = _peak_rss_mb()
    started = time.perf_counter()
    with zipfile.ZipFile(path) as archive:
        opened = time.perf_counter() - started
        entries = len(archive.infolist())
    return {
        "entries": entries,
        "open_s": opened,
        "baseline_rss_mb": baseline,
        "peak_rss_mb": _peak_rss_mb(),
    }


def _child(mode: str, path: Path, entries: int = 0) -> dict[str, float]:
    # Each step runs in its own process so that ru_maxrss measures that step.
    command = [sys.executable, __file__, f"--{mode}", str(path)]
    if entries:
        command += ["--entries", str(entries)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    result: dict[str, float] = json.loads(done.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--zipfile", action="store_true", help="compare with zipfile")
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--walk", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--open", type=Path, help=argparse.SUPPRESS)
    options = parser.parse_args()

    if options.build:
        build(options.build, options.entries)
        print(json.dumps({}))
        return
    if options.walk:
        print(json.dumps(enumerate_source(options.walk)))
        return
    if options.open:
        print(json.dumps(open_with_zipfile(options.open)))
        return

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "receipts.zip"
        started = time.perf_counter()
        _child("build", path, options.entries)
        size_mb = path.stat().st_size / 1e6
        print(
            f"built {options.entries:,} entries, {size_mb:.0f} MB, "
            f"in {time.perf_counter() - started:.1f} s"
        )
        walked = _child("walk", path)
        print(
            f"ReceiptSource: {walked['receipts']:,.0f} receipts read; first after "
            f"{walked['first_receipt_s'] * 1000:.1f} ms, all after "
            f"{walked['total_s']:.1f} s; peak RSS {walked['peak_rss_mb']:.0f} MB "
            f"(interpreter and imports {walked['baseline_rss_mb']:.0f} MB)"
        )
        if options.zipfile:
            opened = _child("open", path)
            print(
                f"zipfile.ZipFile: open took {opened['open_s']:.1f} s; peak RSS "
                f"{opened['peak_rss_mb']:.0f} MB "
                f"(interpreter {opened['baseline_rss_mb']:.0f} MB)"
            )


if __name__ == "__main__":
    main()
