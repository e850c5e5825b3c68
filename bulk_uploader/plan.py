"""``--dry-run``: read everything, send nothing, say what a run would do.

The plan answers what a person asks before a long night run: how many
receipts and bytes per client, how many are already in the cloud, how many
licence tokens are cached and how many would be fetched, what in the input
is unusable, and how long it would take at the configured rates. It makes no
network call and takes no lock: it only reads the state file.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

import anyio
import anyio.to_thread

from bulk_uploader.cloud import CloudClient
from bulk_uploader.journal import Journal
from bulk_uploader.pipeline import Prepared, read_prepared
from bulk_uploader.progress import Progress
from bulk_uploader.report import TOP_REASONS, RunCounters, RunSummary
from bulk_uploader.settings import UploadSettings
from bulk_uploader.sources import ReceiptSource, Skipped
from bulk_uploader.triage import Triage

__all__ = ["plan_upload"]

LicenceState = Literal["cached", "refresh", "fetch"]


@dataclass(slots=True)
class _ClientPlan:
    to_send: int = 0
    bytes_to_send: int = 0
    done: int = 0


async def plan_upload(
    settings: UploadSettings, source: ReceiptSource, *, progress: Progress
) -> RunSummary:
    """Walk the sources as a run would and return the plan as a summary."""
    journal = (
        Journal(settings.state, read_only=True) if settings.state.exists() else None
    )
    with journal if journal is not None else contextlib.nullcontext():
        counters = RunCounters(planning=True)
        clients = await _walk(settings, source, journal, counters, progress)
        licences = _licence_states(settings, journal, clients)

    for _ in source.missing_from_manifest():
        counters.failed += 1
        counters.count_reason("listed in the manifest but not found in any source")
    plan = _plan_dict(settings, counters, clients, licences)
    progress.update(counters, force=True)
    return RunSummary.from_counters(
        counters, outcome="planned", dry_run=True, plan=plan
    )


async def _walk(
    settings: UploadSettings,
    source: ReceiptSource,
    journal: Journal | None,
    counters: RunCounters,
    progress: Progress,
) -> dict[tuple[str, str], _ClientPlan]:
    triage = Triage(settings, journal)
    clients: dict[tuple[str, str], _ClientPlan] = {}
    items = iter(source)
    walker = anyio.CapacityLimiter(1)
    while batch := await anyio.to_thread.run_sync(read_prepared, items, limiter=walker):
        for item in batch:
            if isinstance(item, Skipped):
                counters.skipped_filtered += 1
                continue
            counters.found += 1
            if not isinstance(item, Prepared):
                counters.failed += 1
                counters.count_reason(item.reason)
                continue

            decision, _ = triage.decide(item)
            client = clients.setdefault(item.client_key, _ClientPlan())
            if decision == "send":
                client.to_send += 1
                client.bytes_to_send += len(item.data)
            elif decision == "done":
                client.done += 1
                counters.skipped_done += 1
            elif decision == "other-shard":
                counters.skipped_other_shard += 1
            else:
                counters.failed_before += 1
        progress.update(counters)
    return clients


def _licence_states(
    settings: UploadSettings,
    journal: Journal | None,
    clients: dict[tuple[str, str], _ClientPlan],
) -> dict[tuple[str, str], LicenceState]:
    if journal is None:
        return {key: "fetch" for key, plan in clients.items() if plan.to_send}
    # The cloud client owns the rule of when a stored token is still good;
    # it is asked without ever opening a connection.
    cloud = CloudClient(settings.cloud, token_store=journal)
    states: dict[tuple[str, str], LicenceState] = {}
    for key, plan in clients.items():
        if not plan.to_send:
            continue
        if cloud.cached_licence(*key) is not None:
            states[key] = "cached"
        elif journal.load_licence_token(*key) is not None:
            states[key] = "refresh"
        else:
            states[key] = "fetch"
    return states


def _plan_dict(
    settings: UploadSettings,
    counters: RunCounters,
    clients: dict[tuple[str, str], _ClientPlan],
    licences: dict[tuple[str, str], LicenceState],
) -> dict[str, Any]:
    to_send = sum(plan.to_send for plan in clients.values())
    bytes_to_send = sum(plan.bytes_to_send for plan in clients.values())
    licence_counts = Counter(licences.values())
    fetches = licence_counts["fetch"] + licence_counts["refresh"]
    rate = settings.cloud.rate
    upload_seconds = to_send / rate if rate else None
    # The first licence request goes out at once; each further one waits.
    licence_seconds = max(0, fetches - 1) / settings.cloud.licence_rate
    return {
        "receipts_found": counters.found,
        "to_send": to_send,
        "bytes_to_send": bytes_to_send,
        "already_uploaded": counters.skipped_done,
        "failed_before": counters.failed_before,
        "other_shard": counters.skipped_other_shard,
        "skipped": counters.skipped_filtered,
        "problems": counters.failed,
        "problem_reasons": [
            {"reason": reason, "count": count}
            for reason, count in counters.reasons.most_common(TOP_REASONS)
        ],
        "licence_tokens": {
            "cached": licence_counts["cached"],
            "to_refresh": licence_counts["refresh"],
            "to_fetch": licence_counts["fetch"],
        },
        "rate": rate,
        "licence_rate": settings.cloud.licence_rate,
        "estimated_upload_seconds": upload_seconds,
        "estimated_licence_seconds": licence_seconds,
        "clients": [
            {
                "client_id": client_id,
                "license_id": license_id,
                "to_send": plan.to_send,
                "bytes_to_send": plan.bytes_to_send,
                "already_uploaded": plan.done,
                "licence_token": licences.get((client_id, license_id), "not needed"),
            }
            for (client_id, license_id), plan in sorted(clients.items())
        ],
    }
