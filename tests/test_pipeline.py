"""The upload run in-process against a real simulator: outcomes, journal, reruns."""

from __future__ import annotations

import dataclasses
import io
import json
import sqlite3
import time
import zipfile
from pathlib import Path

import pytest
from helpers import settings_for

from bulk_uploader.errors import AuthenticationError
from bulk_uploader.journal import Journal
from bulk_uploader.pipeline import run_upload
from bulk_uploader.progress import LineProgress
from bulk_uploader.samples import SampleSet, write_sample_set
from bulk_uploader.settings import Shard
from bulk_uploader.simulator import Simulator, SimulatorConfig

pytestmark = pytest.mark.anyio


@pytest.fixture
def samples(tmp_path: Path) -> SampleSet:
    return write_sample_set(tmp_path / "samples", receipts=400, clients=8)


async def test_every_receipt_arrives_once_and_a_rerun_sends_nothing(
    samples: SampleSet, tmp_path: Path
) -> None:
    """Faults are retried, each receipt arrives once, one licence call per client."""
    config = SimulatorConfig(fault_rate=0.05, drop_rate=0.02, seed=3)
    async with Simulator(config) as sim:
        settings = settings_for(sim.url, samples, tmp_path / "state.sqlite")
        first = await run_upload(settings)
        second = await run_upload(settings)
        stats = sim.stats()

    assert first.uploaded == samples.receipts
    assert (first.failed, first.deferred, first.exit_code) == (0, 0, 0)
    assert first.retries > 0, "the injected faults must have been retried"
    assert stats.receipts == samples.per_client
    assert stats.duplicates == 0
    assert stats.licence_calls == dict.fromkeys(samples.clients, 1)
    assert (second.uploaded, second.skipped_done) == (0, samples.receipts)
    assert second.licence_calls == 0
    assert second.exit_code == 0


async def test_moved_and_renamed_archives_are_not_sent_again(
    samples: SampleSet, tmp_path: Path
) -> None:
    """The journal knows receipts by client, name and content, not by path."""
    async with Simulator() as sim:
        settings = settings_for(sim.url, samples, tmp_path / "state.sqlite")
        await run_upload(settings)
        moved = tmp_path / "elsewhere"
        moved.mkdir()
        for source in samples.sources:
            source.rename(moved / f"renamed-{source.name}")
        rerun = await run_upload(dataclasses.replace(settings, sources=(str(moved),)))
        stats = sim.stats()
    assert rerun.uploaded == 0
    assert rerun.skipped_done == samples.receipts
    assert stats.duplicates == 0


async def test_blocked_licence_endpoint_defers_clients_to_the_next_run(
    samples: SampleSet, tmp_path: Path
) -> None:
    """After a 429 no more licence calls, in this run and until the block ends."""
    config = SimulatorConfig(licence_limit=3, licence_window=3600, block_duration=3600)
    state = tmp_path / "state.sqlite"
    async with Simulator(config) as sim:
        settings = settings_for(sim.url, samples, state)
        first = await run_upload(settings)
        after_first = sim.stats()

        too_soon = await run_upload(settings)
        after_too_soon = sim.stats()

        # The hour has passed, and the cloud has forgotten the block.
        with Journal(state) as journal:
            journal.save_licence_block(status=429, until=time.time() - 1)
        sim.reset()
        sim.config.licence_limit = 100
        later = await run_upload(settings)
        after_later = sim.stats()

    licence_statuses = after_first.calls["licence"]
    assert licence_statuses == {200: 3, 429: 1}, "no call after the first 429"
    assert first.deferred > 0
    assert first.exit_code == 4
    assert "blocked" in first.render()
    assert sum(after_first.receipts.values()) == first.uploaded

    assert after_too_soon.calls["licence"] == licence_statuses
    assert too_soon.deferred == first.deferred
    assert too_soon.exit_code == 4

    assert later.exit_code == 0
    assert later.uploaded == first.deferred
    assert sum(after_later.licence_calls.values()) == len(samples.clients) - 3
    total = {
        c: after_first.receipts.get(c, 0) + after_later.receipts.get(c, 0)
        for c in samples.clients
    }
    assert total == samples.per_client


async def test_permanent_failures_wait_for_retry_failed(
    samples: SampleSet, tmp_path: Path
) -> None:
    """A 413 is not retried by a plain rerun, only with --retry-failed."""
    pdf_count = samples.receipts // 10
    async with Simulator(SimulatorConfig(max_body_size=1500)) as sim:
        settings = settings_for(
            sim.url,
            samples,
            tmp_path / "state.sqlite",
            failures=tmp_path / "failures.jsonl",
        )
        first = await run_upload(settings)
        plain_rerun = await run_upload(settings)
        sim.config.max_body_size = None
        retried = await run_upload(
            dataclasses.replace(settings, retry_failed=True, failures=None)
        )
        stats = sim.stats()

    assert first.failed == pdf_count, "only the PDFs are larger than 1500 bytes"
    assert first.exit_code == 1
    assert (first.top_reasons and "413" in first.top_reasons[0][0]) or any(
        "large" in reason.lower() for reason, _ in first.top_reasons
    )
    assert (plain_rerun.uploaded, plain_rerun.failed_before) == (0, pdf_count)
    assert plain_rerun.exit_code == 1
    assert retried.uploaded == pdf_count
    assert retried.exit_code == 0
    assert sum(stats.receipts.values()) == samples.receipts


async def test_failures_file_lists_each_failure_and_feeds_retry_failed(
    samples: SampleSet, tmp_path: Path
) -> None:
    """--failures writes one JSON line per failure; --retry-failed FILE resends them."""
    failures = tmp_path / "failures.jsonl"
    async with Simulator(SimulatorConfig(max_body_size=1500)) as sim:
        settings = settings_for(
            sim.url, samples, tmp_path / "state.sqlite", failures=failures
        )
        await run_upload(settings)
        lines = [json.loads(line) for line in failures.read_text().splitlines()]

        # Keep only one failure in the file: only that one is sent again.
        failures.write_text(json.dumps(lines[0]) + "\n")
        sim.config.max_body_size = None
        retried = await run_upload(
            dataclasses.replace(settings, retry_failed=failures, failures=None)
        )

    assert len(lines) == samples.receipts // 10
    assert {line["status"] for line in lines} == {"failed"}
    assert {line["http_status"] for line in lines} == {413}
    assert all(line["name"].endswith(".pdf") and line["client_id"] for line in lines)
    assert all(len(line["sha256"]) == 64 and line["origin"] for line in lines)
    assert retried.uploaded == 1
    assert retried.failed_before == len(lines) - 1


async def test_report_file_holds_the_summary(
    samples: SampleSet, tmp_path: Path
) -> None:
    """The JSON report a script reads carries the same counts as the summary."""
    async with Simulator() as sim:
        settings = settings_for(sim.url, samples, tmp_path / "state.sqlite")
        summary = await run_upload(settings)
    report = tmp_path / "report.json"
    summary.write_json(report)
    data = json.loads(report.read_text())
    assert data["uploaded"] == samples.receipts
    assert data["licence_calls"] == len(samples.clients)
    assert data["exit_code"] == 0
    assert data["outcome"] == "completed"


async def test_max_duration_stops_cleanly_and_the_next_run_finishes(
    samples: SampleSet, tmp_path: Path
) -> None:
    """A nightly window: stop when time is up (exit 5), continue next time."""
    async with Simulator(SimulatorConfig(latency=0.05)) as sim:
        settings = settings_for(
            sim.url,
            samples,
            tmp_path / "state.sqlite",
            concurrency=2,
            max_duration=0.5,
        )
        first = await run_upload(settings)
        second = await run_upload(dataclasses.replace(settings, max_duration=None))
        stats = sim.stats()

    assert first.outcome == "time-limit"
    assert first.exit_code == 5
    assert 0 < first.uploaded < samples.receipts
    assert second.uploaded == samples.receipts - first.uploaded
    assert stats.receipts == samples.per_client
    assert stats.duplicates == 0


async def test_dry_run_sends_nothing_and_plans_correctly(
    samples: SampleSet, tmp_path: Path
) -> None:
    """--dry-run makes zero requests and knows what is done and which tokens exist."""
    state = tmp_path / "state.sqlite"
    async with Simulator() as sim:
        settings = settings_for(sim.url, samples, state)
        before = await run_upload(dataclasses.replace(settings, dry_run=True))
        assert sim.stats().calls == {} or all(
            not statuses for statuses in sim.stats().calls.values()
        )
        assert not state.exists(), "a dry run must not create the state file"

        await run_upload(settings)
        requests_after_run = sum(
            sum(statuses.values()) for statuses in sim.stats().calls.values()
        )
        after = await run_upload(dataclasses.replace(settings, dry_run=True))
        requests_after_plan = sum(
            sum(statuses.values()) for statuses in sim.stats().calls.values()
        )

    assert before.plan is not None
    assert after.plan is not None
    assert before.plan["to_send"] == samples.receipts
    assert before.plan["licence_tokens"]["to_fetch"] == len(samples.clients)
    # The first licence request goes at once, each further one waits its turn.
    assert before.plan["estimated_licence_seconds"] == pytest.approx(
        (len(samples.clients) - 1) / settings.cloud.licence_rate
    )
    assert after.plan["to_send"] == 0
    assert after.plan["already_uploaded"] == samples.receipts
    assert requests_after_plan == requests_after_run
    assert "Dry run" in before.render()


async def test_wrong_credentials_stop_before_any_upload(
    samples: SampleSet, tmp_path: Path
) -> None:
    """Wrong key or secret: one clear error, no upload attempted, exit code 3."""
    async with Simulator() as sim:
        settings = settings_for(
            sim.url, samples, tmp_path / "state.sqlite", api_secret="wrong-secret"
        )
        with pytest.raises(AuthenticationError) as caught:
            await run_upload(settings)
        stats = sim.stats()
    assert caught.value.exit_code == 3
    assert "wrong-secret" not in str(caught.value)
    assert stats.total("upload") == 0
    assert stats.total("licence") == 0
    runs = sqlite3.connect(tmp_path / "state.sqlite").execute("SELECT * FROM runs")
    assert runs.fetchall() == [], "a run refused at logon is not listed"


async def test_bad_entries_fail_alone_and_the_run_goes_on(
    samples: SampleSet, tmp_path: Path
) -> None:
    """Empty files, corrupt archives and receipts without client fail with a reason."""
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "empty.json").write_bytes(b"")
    (extra / "no-client.json").write_text('{"documentNumber": 1}')
    (extra / "broken.zip").write_bytes(b"PK\x03\x04 this is not a zip")
    with zipfile.ZipFile(extra / "fine.zip", "w") as archive:
        archive.writestr(f"{samples.clients[0]}/extra-receipt.json", b'{"a": 1}')

    failures = tmp_path / "failures.jsonl"
    async with Simulator() as sim:
        settings = settings_for(
            sim.url, samples, tmp_path / "state.sqlite", failures=failures
        )
        settings = dataclasses.replace(
            settings, sources=(*settings.sources, str(extra))
        )
        summary = await run_upload(settings)

    assert summary.uploaded == samples.receipts + 1
    assert summary.failed == 3
    assert summary.exit_code == 1
    reasons = {
        json.loads(line)["origin"]: json.loads(line)["reason"]
        for line in failures.read_text().splitlines()
    }
    assert len(reasons) == 3
    assert all(reason for reason in reasons.values())
    assert any("empty" in r.lower() for r in reasons.values())
    assert any("broken.zip" in origin for origin in reasons)


async def test_shards_split_clients_without_overlap(
    samples: SampleSet, tmp_path: Path
) -> None:
    """--shard 0/2 and 1/2 together send everything once; each client has one owner."""
    async with Simulator() as sim:
        summaries, per_shard = [], []
        for index in range(2):
            settings = settings_for(
                sim.url,
                samples,
                tmp_path / f"state-{index}.sqlite",
                shard=Shard(index, 2),
            )
            summaries.append(await run_upload(settings))
            per_shard.append(sim.stats())
            sim.reset()

    first, second = (stats.receipts for stats in per_shard)
    assert first, "with 8 clients both shards get some"
    assert second, "with 8 clients both shards get some"
    assert not set(first) & set(second), "a client belongs to one shard only"
    assert {**first, **second} == samples.per_client
    assert sum(s.uploaded for s in summaries) == samples.receipts
    assert all(
        stats.licence_calls == dict.fromkeys(stats.receipts, 1) for stats in per_shard
    )
    assert summaries[0].skipped_other_shard == sum(second.values())


async def test_licence_tokens_are_stored_for_tomorrow(
    samples: SampleSet, tmp_path: Path
) -> None:
    """The journal keeps one licence token per client, the file private."""
    state = tmp_path / "state.sqlite"
    async with Simulator() as sim:
        await run_upload(settings_for(sim.url, samples, state))
    rows = (
        sqlite3.connect(state)
        .execute("SELECT client_id, expires_at FROM licence_tokens")
        .fetchall()
    )
    assert sorted(row[0] for row in rows) == sorted(samples.clients)
    assert oct(state.stat().st_mode & 0o777) == "0o600"


async def test_a_cloud_that_keeps_failing_stops_the_run_early(
    samples: SampleSet, tmp_path: Path
) -> None:
    """Many passing failures in a row: stop (exit 6), not hours of retries."""
    async with Simulator(SimulatorConfig(fault_rate=1.0, seed=1)) as sim:
        settings = settings_for(
            sim.url, samples, tmp_path / "state.sqlite", concurrency=2, max_attempts=1
        )
        down = await run_upload(settings)
        sim.config.fault_rate = 0.0
        back = await run_upload(settings)
        stats = sim.stats()

    assert down.outcome == "cloud-unavailable"
    assert down.exit_code == 6
    assert down.uploaded == 0
    assert 20 <= down.failed < 30, "it stops after about 20 failures in a row"
    assert "kept failing" in down.render()
    assert back.exit_code == 0
    assert stats.receipts == samples.per_client


async def test_dry_run_exit_code_predicts_input_problems(
    samples: SampleSet, tmp_path: Path
) -> None:
    """A plan exits 0 on clean input and 1 when it found unusable receipts."""
    async with Simulator() as sim:
        settings = settings_for(sim.url, samples, tmp_path / "state.sqlite")
        clean = await run_upload(dataclasses.replace(settings, dry_run=True))
        (samples.sources[0] / "empty.json").write_bytes(b"")
        flawed = await run_upload(dataclasses.replace(settings, dry_run=True))

    assert clean.exit_code == 0
    assert flawed.exit_code == 1
    assert flawed.plan is not None
    assert flawed.plan["problems"] == 1
    assert "input problems              1" in flawed.render()


async def test_status_lines_show_the_share_done_when_the_total_is_cheap(
    samples: SampleSet, tmp_path: Path
) -> None:
    """Folders and zips are counted up front: status lines say how far along."""
    folder = samples.sources[0]
    in_folder = sum(1 for path in folder.rglob("*") if path.is_file())
    lines = io.StringIO()
    async with Simulator(SimulatorConfig(latency=0.01)) as sim:
        settings = settings_for(sim.url, samples, tmp_path / "state.sqlite")
        settings = dataclasses.replace(settings, sources=(str(folder),))
        summary = await run_upload(
            settings, progress=LineProgress(interval=0.05, stream=lines)
        )

    assert summary.uploaded == in_folder
    last = lines.getvalue().splitlines()[-1]
    assert f"100% of {in_folder:,}" in last
    assert any("left" in line for line in lines.getvalue().splitlines()[:-1])


async def test_nothing_getting_through_for_a_while_stops_the_run(
    samples: SampleSet, tmp_path: Path
) -> None:
    """Retries piling up with no success: stop after outage_after, not hours later."""
    folder = str(samples.sources[0])
    async with Simulator(SimulatorConfig(fault_rate=1.0, seed=2)) as sim:
        settings = settings_for(
            sim.url,
            samples,
            tmp_path / "state.sqlite",
            concurrency=1,
            outage_after=0.5,
        )
        settings = dataclasses.replace(settings, sources=(folder,))
        started = time.monotonic()
        down = await run_upload(settings)
        took = time.monotonic() - started

    assert down.outcome == "cloud-unavailable"
    assert down.exit_code == 6
    assert down.failed < 20, "the time rule, not the count rule, stopped it"
    assert took < 30
    assert down.retries >= 3
    text = down.render()
    assert "not sent" in text, "the receipts never tried are counted"
    assert down.not_sent > 0


async def test_summary_tells_passing_from_permanent_failures(
    samples: SampleSet, tmp_path: Path
) -> None:
    """The failed line says which failures the next run retries by itself."""
    async with Simulator(SimulatorConfig(max_body_size=1500)) as sim:
        settings = settings_for(sim.url, samples, tmp_path / "state.sqlite")
        first = await run_upload(settings)
        again = await run_upload(settings)

    pdfs = samples.receipts // 10
    assert f"failed     {pdfs:>10,}  ({pdfs} failed for good (--retry-failed" in (
        first.render()
    )
    assert f"{pdfs} failed for good in an earlier run" in again.render()
    assert again.exit_code == 1
