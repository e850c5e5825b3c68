"""The four contenders, each started as a process the way its user would.

* ``uploader``: ``bulk-uploader upload ... --progress none -q``;
* ``raw``: ``baseline_aiohttp.py``, the stack's ceiling;
* ``sequential``: ``baseline_requests.py``, one request after the other;
* ``curl``: ``xargs -P N curl -F ...`` over the same files.

Each run is measured from outside (``run_measured``) and from the server's
side (what the simulator accepted, when, and how busy it was).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

from ._datasets import Clients, ReceiptSet
from ._process import ProcessCost, run_measured
from ._server import SimulatorProcess

__all__ = [
    "API_KEY",
    "API_SECRET",
    "Run",
    "copy_state",
    "curl_run",
    "raw_run",
    "scratch",
    "sequential_run",
    "uploader_argv",
    "uploader_run",
]

API_KEY = "demo-key"
API_SECRET = "demo-secret"
# The simulator does not mind a quicker licence pace than the cautious
# default (one call every five seconds); the demo does the same.
LICENCE_RATE = 20.0
_HERE = Path(__file__).parent


@dataclass
class Run:
    """One contender's run: its cost, and what the simulator saw of it."""

    contender: str
    expected: int
    latency: float
    cost: ProcessCost
    server_cpu: float
    stats: dict[str, object]
    accepted: int
    first_arrival: float
    last_arrival: float
    # Every arrival time; callers that do not chart them may drop them.
    arrivals: list[float] = field(repr=False)

    @property
    def failure(self) -> str | None:
        """Why this run does not count, or None when it went right."""
        if self.cost.returncode != 0 or self.cost.timed_out:
            return self.cost.describe_failure()
        if self.accepted != self.expected:
            return (
                f"{self.contender}: the simulator accepted {self.accepted:,} "
                f"of {self.expected:,} receipts"
            )
        if self.stats.get("duplicates"):
            return f"{self.contender}: {self.stats['duplicates']} duplicates"
        return None

    @property
    def span(self) -> float:
        """Seconds from the first arrival to the answer to the last one."""
        if not self.accepted:
            return 0.0
        return self.last_arrival - self.first_arrival + self.latency

    @property
    def rate(self) -> float:
        """Receipts per second while uploading (server side, see README)."""
        return self.accepted / self.span if self.span > 0 else 0.0

    @property
    def cpu_per_receipt(self) -> float:
        return self.cost.cpu / self.accepted if self.accepted else 0.0

    @property
    def first_upload(self) -> float:
        """Seconds from process start to the first receipt at the simulator."""
        return self.first_arrival - self.cost.started_at if self.accepted else 0.0

    @property
    def server_share(self) -> float:
        """The simulator's CPU use during the run, in cores."""
        return self.server_cpu / self.cost.wall if self.cost.wall > 0 else 0.0

    def upload_calls(self, status: str | None = None) -> int:
        calls = self.stats.get("calls", {})
        by_status = calls.get("upload", {}) if isinstance(calls, dict) else {}
        if status is None:
            return sum(by_status.values())
        return int(by_status.get(status, 0))

    def licence_calls(self) -> int:
        calls = self.stats.get("licence_calls", {})
        return sum(calls.values()) if isinstance(calls, dict) else 0

    def summary(self) -> dict[str, object]:
        """The figures of this run for results.json."""
        return {
            "contender": self.contender,
            "expected": self.expected,
            "accepted": self.accepted,
            "failure": self.failure,
            "wall_s": round(self.cost.wall, 3),
            "cpu_user_s": round(self.cost.cpu_user, 3),
            "cpu_system_s": round(self.cost.cpu_system, 3),
            "cpu_per_receipt_ms": round(self.cpu_per_receipt * 1000, 4),
            "peak_rss_mb": round(self.cost.peak_rss / 2**20, 1),
            "rate_per_s": round(self.rate, 1),
            "first_upload_s": round(self.first_upload, 3),
            "server_cpu_cores": round(self.server_share, 2),
            "upload_calls": self.stats.get("calls", {}),
            "licence_calls": self.licence_calls(),
        }


def measure(
    server: SimulatorProcess,
    contender: str,
    argv: Sequence[str],
    *,
    expected: int,
    latency: float,
    timeout: float,
    on_tick: Callable[[], None] | None = None,
) -> Run:
    """Run one contender against a freshly reset simulator."""
    server.reset()
    before = server.cpu_seconds()
    cost = run_measured(
        argv, env=client_environment(), timeout=timeout, on_tick=on_tick
    )
    server_cpu = server.cpu_seconds() - before
    arrivals = server.arrivals()
    return Run(
        contender=contender,
        expected=expected,
        latency=latency,
        cost=cost,
        server_cpu=server_cpu,
        stats=server.stats(),
        accepted=len(arrivals),
        first_arrival=min(arrivals, default=0.0),
        last_arrival=max(arrivals, default=0.0),
        arrivals=arrivals,
    )


def client_environment() -> dict[str, str]:
    env = dict(os.environ)
    env["RETAILFORCE_API_KEY"] = API_KEY
    env["RETAILFORCE_API_SECRET"] = API_SECRET
    env["PYTHONUNBUFFERED"] = "1"
    return env


def uploader_command() -> list[str]:
    """The installed ``bulk-uploader`` script beside this Python."""
    script = Path(sys.executable).with_name("bulk-uploader")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "bulk_uploader"]


def uploader_argv(
    url: str,
    receipts: ReceiptSet,
    clients: Clients,
    state: Path,
    *,
    concurrency: int,
    rate: float | None = None,
) -> list[str]:
    argv = [
        *uploader_command(),
        "upload",
        *(str(source) for source in receipts.sources),
        "--api-url",
        url,
        "--functions-url",
        url,
        "--clients",
        str(clients.file),
        "--state",
        str(state),
        "--concurrency",
        str(concurrency),
        "--licence-rate",
        str(LICENCE_RATE),
        "--progress",
        "none",
        "-q",
    ]
    if rate is not None:
        argv += ["--rate", str(rate)]
    return argv


def uploader_run(
    server: SimulatorProcess,
    receipts: ReceiptSet,
    clients: Clients,
    state: Path,
    *,
    concurrency: int,
    latency: float,
    timeout: float,
    rate: float | None = None,
    on_tick: Callable[[], None] | None = None,
) -> Run:
    argv = uploader_argv(
        server.url, receipts, clients, state, concurrency=concurrency, rate=rate
    )
    return measure(
        server,
        "uploader",
        argv,
        expected=receipts.count,
        latency=latency,
        timeout=timeout,
        on_tick=on_tick,
    )


def raw_run(
    server: SimulatorProcess,
    receipts: ReceiptSet,
    clients: Clients,
    *,
    count: int,
    concurrency: int,
    latency: float,
    timeout: float,
) -> Run:
    argv = [
        sys.executable,
        str(_HERE / "baseline_aiohttp.py"),
        str(receipts.sources[0]),
        "--url",
        server.url,
        "--clients",
        str(clients.file),
        "--concurrency",
        str(concurrency),
        "--limit",
        str(count),
    ]
    return measure(
        server,
        "raw aiohttp loop",
        argv,
        expected=count,
        latency=latency,
        timeout=timeout,
    )


def sequential_run(
    server: SimulatorProcess,
    receipts: ReceiptSet,
    clients: Clients,
    *,
    count: int,
    latency: float,
    timeout: float,
) -> Run:
    argv = [
        sys.executable,
        str(_HERE / "baseline_requests.py"),
        str(receipts.sources[0]),
        "--url",
        server.url,
        "--clients",
        str(clients.file),
        "--limit",
        str(count),
    ]
    return measure(
        server,
        "sequential requests",
        argv,
        expected=count,
        latency=latency,
        timeout=timeout,
    )


def curl_run(
    server: SimulatorProcess,
    receipts: ReceiptSet,
    clients: Clients,
    *,
    count: int,
    concurrency: int,
    latency: float,
    timeout: float,
) -> Run:
    """xargs starts one curl per receipt; the tokens are fetched beforehand."""
    tokens = fetch_licence_tokens(server.url, clients)
    files = sorted(receipts.sources[0].glob("*/*.json"), key=lambda p: p.name)[:count]
    with tempfile.TemporaryDirectory(prefix="bench-curl-") as tmp:
        arguments = Path(tmp, "arguments")
        with arguments.open("wb") as out:
            for path in files:
                client_id = path.parent.name
                items = (
                    "--form-string",
                    f"uniqueClientId={client_id}",
                    "--form-string",
                    f"licenseToken={tokens[client_id]}",
                    "-F",
                    f"file=@{path};type=application/json",
                )
                out.write(b"".join(item.encode() + b"\0" for item in items))
        argv = [
            "xargs",
            "-0",
            "-a",
            str(arguments),
            "-P",
            str(concurrency),
            "-n",
            "6",
            "curl",
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}\\n",
            f"{server.url}/api/digitalReceipt",
        ]
        return measure(
            server,
            "xargs + curl",
            argv,
            expected=len(files),
            latency=latency,
            timeout=timeout,
        )


def fetch_licence_tokens(url: str, clients: Clients) -> dict[str, str]:
    """Log on and fetch each client's licence token, as a shell script would."""
    with requests.Session() as session:
        answer = session.post(
            f"{url}/api/v1.0/authenticate/logon",
            data={"key": API_KEY, "secret": API_SECRET},
            timeout=30,
        )
        answer.raise_for_status()
        bearer = answer.json()
        tokens = {}
        for client_id, licence_id in zip(clients.ids, clients.licences, strict=True):
            answer = session.get(
                f"{url}/api/v1.0/licensing/token",
                params={"uniqueClientId": client_id, "accessLicenseId": licence_id},
                headers={"Authorization": f"Bearer {bearer}"},
                timeout=30,
            )
            answer.raise_for_status()
            tokens[client_id] = str(answer.json())
    return tokens


def copy_state(source: Path, target: Path) -> None:
    """Copy a journal (with what its write-ahead log holds) to a new file."""
    if target.exists():
        target.unlink()
    old, new = sqlite3.connect(source), sqlite3.connect(target)
    with closing(old), closing(new):
        old.backup(new)
    shutil.copymode(source, target)


@contextmanager
def scratch(root: Path) -> Iterator[Path]:
    """A folder for one run's state and report, removed afterwards."""
    root.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="run-", dir=root))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
