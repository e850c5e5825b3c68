"""``bulk-uploader demo``: the whole path, on this machine, in a minute.

Starts the simulator on a free loopback port, writes sample receipts, runs
the real upload twice (the second run must send nothing and fetch no
licence token) and checks what the simulator received.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bulk_uploader.cloud import CloudSettings
from bulk_uploader.errors import EXIT_FAILURES, EXIT_OK
from bulk_uploader.pipeline import run_upload
from bulk_uploader.samples import write_sample_set
from bulk_uploader.settings import UploadSettings
from bulk_uploader.simulator import Simulator, SimulatorConfig
from bulk_uploader.sources import SourceOptions

__all__ = ["run_demo"]

DEMO_KEY = "demo-key"
DEMO_SECRET = "demo-secret"  # noqa: S105 - the simulator's public demo account


async def run_demo(receipts: int, clients: int, folder: str | None, quiet: bool) -> int:
    """Run the demo; return 0 when every check passed."""
    if folder is None:
        with tempfile.TemporaryDirectory(prefix="bulk-uploader-demo-") as tmp:
            return await _demo(Path(tmp), receipts, clients, quiet)
    return await _demo(Path(folder), receipts, clients, quiet)


async def _demo(root: Path, receipts: int, clients: int, quiet: bool) -> int:
    samples = write_sample_set(root / "samples", receipts=receipts, clients=clients)
    say = (lambda text: None) if quiet else print
    say(
        f"Wrote {samples.receipts:,} receipts of {len(samples.clients)} POS clients "
        f"to {root / 'samples'} (a folder, two zip files and a tar.gz)."
    )

    # Some latency and a few injected faults, so the demo shows retries.
    config = SimulatorConfig(latency=0.01, latency_jitter=0.02, fault_rate=0.02, seed=1)
    async with Simulator(config) as simulator:
        say(
            f"Simulator listening on {simulator.url}. It answers 2% of uploads "
            "with a server error on purpose, to show the retries.\n"
        )
        settings = UploadSettings(
            sources=tuple(str(path) for path in samples.sources),
            cloud=CloudSettings(
                api_key=DEMO_KEY,
                api_secret=DEMO_SECRET,
                api_url=simulator.url,
                functions_url=simulator.url,
                concurrency=16,
                # The simulator does not mind a quicker licence pace; the
                # real cloud keeps the cautious default.
                licence_rate=5.0,
            ),
            source_options=SourceOptions(clients_file=str(samples.clients_file)),
            state=root / "state.sqlite",
            progress="none" if quiet else "auto",
            progress_interval=2.0,
        )
        say("First run: every receipt is new.")
        first = await run_upload(settings)
        say(first.render() + "\n")
        say("Second run over the same sources: the journal says all is done.")
        second = await run_upload(settings)
        say(second.render() + "\n")
        stats = simulator.stats()

    received = sum(stats.receipts.values())
    checks = [
        (
            f"every receipt arrived: {received:,} of {samples.receipts:,}",
            received == samples.receipts
            and all(stats.receipts.get(c) == n for c, n in samples.per_client.items()),
        ),
        (
            f"no receipt arrived twice: {stats.duplicates} duplicates",
            stats.duplicates == 0,
        ),
        (
            f"one licence call per client: {sum(stats.licence_calls.values())} calls "
            f"for {len(samples.clients)} clients",
            all(stats.licence_calls.get(c) == 1 for c in samples.clients),
        ),
        (
            f"the second run sent nothing: {second.uploaded} uploads, "
            f"{second.licence_calls} licence calls",
            second.uploaded == 0 and second.licence_calls == 0,
        ),
    ]
    print("Checks against the simulator:")
    for text, passed in checks:
        print(f"  [{'ok' if passed else 'FAILED'}] {text}")
    return EXIT_OK if all(passed for _, passed in checks) else EXIT_FAILURES
