"""The real CLI in its own process against a real simulator: runs, kills, reruns."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from helpers import SECRET, cli_command, cli_env, run_cli, upload_args

from bulk_uploader.samples import SampleSet, write_sample_set
from bulk_uploader.simulator import SimulatorConfig, SimulatorThread


def wait_for_receipts(sim: SimulatorThread, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while sum(sim.stats().receipts.values()) < count:
        assert time.monotonic() < deadline, "the upload did not get going"
        time.sleep(0.02)


@pytest.mark.slow
def test_twenty_thousand_receipts_arrive_exactly_once(tmp_path: Path) -> None:
    """20,000 receipts, 200 clients, 5% faults: once each, 200 licence calls.

    A rerun over the same sources uploads nothing and asks for no licence.
    """
    samples = write_sample_set(tmp_path / "samples", receipts=20_000, clients=200)
    state = tmp_path / "state.sqlite"
    report = tmp_path / "report.json"
    # The default simulator blocks after 100 licence calls a minute.
    config = SimulatorConfig(fault_rate=0.05, seed=5, licence_limit=1000)
    with SimulatorThread(config) as sim:
        first = run_cli(
            upload_args(
                sim.url, samples, state, "--concurrency", "32", "--report", str(report)
            )
        )
        after_first = sim.stats()
        second = run_cli(upload_args(sim.url, samples, state))
        after_second = sim.stats()

    assert first.returncode == 0, first.stderr
    assert after_first.receipts == samples.per_client
    assert after_first.duplicates == 0
    assert sum(after_first.licence_calls.values()) == 200
    assert json.loads(report.read_text())["uploaded"] == 20_000

    assert second.returncode == 0, second.stderr
    assert after_second.total("upload") == after_first.total("upload")
    assert after_second.total("licence") == after_first.total("licence")
    assert "already uploaded 20,000" in second.stdout


def _start(
    sim: SimulatorThread, samples: SampleSet, state: Path, *more: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cli_command(*upload_args(sim.url, samples, state, *more)),
        env=cli_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_kill_9_then_rerun_loses_nothing(tmp_path: Path) -> None:
    """After SIGKILL the rerun sends the rest; duplicates stay within one batch."""
    samples = write_sample_set(tmp_path / "samples", receipts=3000, clients=20)
    state = tmp_path / "state.sqlite"
    concurrency, rate = 8, 300
    with SimulatorThread(SimulatorConfig(latency=0.005)) as sim:
        process = _start(
            sim, samples, state, "--concurrency", str(concurrency), "--rate", str(rate)
        )
        wait_for_receipts(sim, 800)
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
        killed_at = sum(sim.stats().receipts.values())

        rerun = run_cli(upload_args(sim.url, samples, state))
        stats = sim.stats()

    assert process.returncode == -signal.SIGKILL
    assert killed_at < samples.receipts, "the kill must land mid-run"
    assert rerun.returncode == 0, rerun.stderr
    assert all(stats.receipts[c] >= n for c, n in samples.per_client.items())
    # In flight, plus what one commit interval (1 s, checked every 0.25 s)
    # can hold at the rate ceiling.
    assert stats.duplicates <= concurrency + rate * 1.25
    assert sum(stats.receipts.values()) - stats.duplicates == samples.receipts


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_finishes_in_flight_work_and_exits_130(
    tmp_path: Path, signum: signal.Signals
) -> None:
    """Ctrl-C or SIGTERM: nothing new starts, summary printed, exit 130, rerun ends."""
    samples = write_sample_set(tmp_path / "samples", receipts=2000, clients=10)
    state = tmp_path / "state.sqlite"
    concurrency = 8
    with SimulatorThread(SimulatorConfig(latency=0.05)) as sim:
        process = _start(sim, samples, state, "--concurrency", str(concurrency))
        wait_for_receipts(sim, 200)
        at_signal = sum(sim.stats().receipts.values())
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=60)
        interrupted_at = sum(sim.stats().receipts.values())

        rerun = run_cli(upload_args(sim.url, samples, state))
        stats = sim.stats()

    assert process.returncode == 130, stderr
    assert "Interrupted" in stdout
    assert "uploaded" in stdout
    assert signum.name in stderr
    # Only the uploads already on the wire may land after the signal (the
    # count above may lag the signal by a few answers, hence the slack).
    assert interrupted_at - at_signal <= 2 * concurrency
    assert rerun.returncode == 0, rerun.stderr
    assert stats.receipts == samples.per_client
    assert stats.duplicates == 0, "a graceful stop records everything that arrived"

    runs = (
        sqlite3.connect(state)
        .execute("SELECT outcome FROM runs ORDER BY id")
        .fetchall()
    )
    assert runs == [("interrupted",), ("completed",)]


def test_dry_run_makes_no_request(tmp_path: Path) -> None:
    """--dry-run through the CLI: the plan is printed, the simulator hears nothing."""
    samples = write_sample_set(tmp_path / "samples", receipts=100, clients=4)
    with SimulatorThread() as sim:
        result = run_cli(
            upload_args(sim.url, samples, tmp_path / "state.sqlite", "--dry-run")
        )
        stats = sim.stats()
    assert result.returncode == 0, result.stderr
    assert sum(sum(s.values()) for s in stats.calls.values()) == 0
    assert "Dry run: nothing was sent." in result.stdout
    assert "would upload" in result.stdout
    assert "100" in result.stdout
    assert "4 to fetch" in result.stdout


def test_progress_lines_without_a_terminal(tmp_path: Path) -> None:
    """In cron or CI: plain status lines, no bar control characters."""
    samples = write_sample_set(tmp_path / "samples", receipts=300, clients=3)
    with SimulatorThread(SimulatorConfig(latency=0.02)) as sim:
        result = run_cli(
            upload_args(
                sim.url,
                samples,
                tmp_path / "state.sqlite",
                "--concurrency",
                "4",
                "--progress",
                "auto",
                "--progress-interval",
                "0.3",
            )
        )
    assert result.returncode == 0, result.stderr
    status_lines = [line for line in result.stderr.splitlines() if "uploaded" in line]
    assert len(status_lines) >= 2
    assert "\r" not in result.stderr
    assert "\x1b[" not in result.stderr


def test_no_secret_or_token_in_any_output(tmp_path: Path) -> None:
    """With -vv and a log file: the secret and the tokens appear nowhere."""
    samples = write_sample_set(tmp_path / "samples", receipts=60, clients=3)
    state = tmp_path / "state.sqlite"
    log_file = tmp_path / "run.log"
    report = tmp_path / "report.json"
    failures = tmp_path / "failures.jsonl"
    config = SimulatorConfig(fault_rate=0.2, max_body_size=1500, seed=9)
    with SimulatorThread(config) as sim:
        result = run_cli(
            upload_args(
                sim.url,
                samples,
                state,
                "-vv",
                "--log-file",
                str(log_file),
                "--report",
                str(report),
                "--failures",
                str(failures),
            )
        )
    tokens = [
        row[0]
        for row in sqlite3.connect(state).execute("SELECT token FROM licence_tokens")
    ]
    assert len(tokens) == 3
    texts = {
        "stdout": result.stdout,
        "stderr": result.stderr,
        "log": log_file.read_text(),
        "report": report.read_text(),
        "failures": failures.read_text(),
    }
    assert "licence" in texts["log"].lower(), "the log must say something"
    for where, text in texts.items():
        assert SECRET not in text, where
        for token in tokens:
            assert token not in text, where
            assert token.split(".")[1] not in text, where
