"""The upload run: sources → journal filter → scheduler → uploaders → results.

Reading archives is blocking work, so one worker thread walks the sources,
reads and hashes each receipt, and hands batches over a bounded memory
stream. The event loop then checks each receipt against the journal, queues
it for its client, and N uploader tasks send what the scheduler hands out.
Every hand-over is bounded, so a slow cloud slows the reading of archives
instead of filling memory.

Stopping: the first Ctrl-C, SIGTERM or ``--max-duration`` stops handing out
work, lets uploads in flight finish (for at most ``stop_grace`` seconds),
commits the journal and returns the summary. A second Ctrl-C cancels the
uploads in flight at once; the journal is still committed.
"""

from __future__ import annotations

import hashlib
import logging
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import anyio
import anyio.abc
import anyio.to_thread
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from bulk_uploader.cloud import CloudClient
from bulk_uploader.errors import (
    LicenceBlocked,
    LicenceUnavailable,
    UnreadableReceipt,
    UploadFailed,
    UploadNotStarted,
)
from bulk_uploader.journal import Journal, Outcome, ReceiptKey
from bulk_uploader.progress import Progress, make_progress
from bulk_uploader.report import (
    FailureLog,
    RunCounters,
    RunSummary,
    check_writable,
    format_duration,
)
from bulk_uploader.scheduler import ClientScheduler
from bulk_uploader.settings import UploadSettings
from bulk_uploader.sources import Receipt, ReceiptSource, Skipped, SourceItem, Unusable
from bulk_uploader.triage import Triage

__all__ = ["Prepared", "read_prepared", "run_upload"]

logger = logging.getLogger(__name__)

READ_BATCH_ITEMS = 256
READ_BATCH_BYTES = 8 * 1024 * 1024
# The first receipts should not wait for a whole batch: a batch is handed
# over after this long even when it is not full.
READ_BATCH_SECONDS = 0.05
TICK_SECONDS = 0.25
# How many bytes of receipts wait in the scheduler at most: enough for a
# look-ahead over many clients, little enough that large receipts at a slow
# rate do not fill memory.
SCHEDULER_BYTES = 64 * 1024 * 1024


@dataclass(slots=True)
class Prepared:
    """A receipt with its bytes read and hashed, ready for the journal check."""

    receipt: Receipt
    data: bytes
    digest: bytes

    @property
    def client_key(self) -> tuple[str, str]:
        return self.receipt.client_id, self.receipt.license_id

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def key(self) -> ReceiptKey:
        return ReceiptKey(self.receipt.client_id, self.receipt.name, self.digest)


ReadItem = Prepared | Unusable | Skipped


def read_prepared(items: Iterator[SourceItem]) -> list[ReadItem]:
    """Read and hash the next batch of receipts (runs in a worker thread)."""
    batch: list[ReadItem] = []
    size = 0
    deadline = time.monotonic() + READ_BATCH_SECONDS
    for item in items:
        if isinstance(item, Receipt):
            try:
                data = item.read()
            except UnreadableReceipt as exc:
                batch.append(
                    Unusable(item.origin, exc.message, item.name, item.client_id)
                )
            else:
                batch.append(Prepared(item, data, hashlib.sha256(data).digest()))
                size += len(data)
        else:
            batch.append(item)
        if (
            len(batch) >= READ_BATCH_ITEMS
            or size >= READ_BATCH_BYTES
            or time.monotonic() >= deadline
        ):
            break
    return batch


StopReason = Literal["interrupted", "time-limit", "cloud-unavailable"]
# When this many uploads in a row (and at least twice the concurrency) fail
# for a passing reason after all their retries, the cloud is down: the run
# stops instead of spending hours on retry budgets, and the next run goes on.
OUTAGE_MIN_FAILURES = 20
# ... or when nothing got through for ``outage_after`` seconds while at least
# this many attempts failed.
OUTAGE_MIN_RETRIES = 3


async def run_upload(
    settings: UploadSettings,
    *,
    progress: Progress | None = None,
    handle_signals: bool = True,
) -> RunSummary:
    """Upload every receipt of ``settings.sources``; return the run's summary.

    Raises ``ConfigError``, ``ManifestError``, ``JournalError``,
    ``AuthenticationError`` or ``CloudUnavailable`` before the first upload
    when the run cannot start. Receipts that fail are counted in the
    summary, not raised. ``settings.report``, if given, receives the summary
    as JSON.
    """
    from bulk_uploader.plan import plan_upload

    source = ReceiptSource(settings.sources, settings.source_options)
    if settings.report is not None:
        check_writable(settings.report, "--report")
    if progress is None:
        progress = make_progress(settings.progress, interval=settings.progress_interval)
    try:
        if settings.dry_run:
            summary = await plan_upload(settings, source, progress=progress)
        else:
            summary = await _upload(settings, source, progress, handle_signals)
    finally:
        progress.close()

    if settings.report is not None:
        try:
            summary.write_json(settings.report)
        except OSError as exc:
            logger.error("could not write the report %s: %s", settings.report, exc)
    return summary


async def _upload(
    settings: UploadSettings,
    source: ReceiptSource,
    progress: Progress,
    handle_signals: bool,
) -> RunSummary:
    with Journal(settings.state) as journal:
        # A bad --retry-failed file stops the run here, before the logon;
        # it is read before --failures, which may name the same file,
        # starts it anew.
        triage = Triage(settings, journal)
        with FailureLog(settings.failures) as failure_log:
            async with CloudClient(settings.cloud, token_store=journal) as cloud:
                block = journal.load_licence_block()
                if block is not None:
                    cloud.carry_over_licence_block(status=block[0], until=block[1])
                await cloud.logon()
                # Only a run that got past the logon is a run worth listing.
                journal.start_run()
                run = _Run(
                    settings, source, journal, cloud, progress, failure_log, triage
                )
                summary = await run.execute(handle_signals=handle_signals)
                _remember_licence_block(journal, cloud)
        journal.finish_run(summary.outcome, summary.to_dict())
    return summary


# When the licence endpoint blocks without saying for how long, the next
# runs leave it alone for this long.
UNKNOWN_BLOCK_SECONDS = 3600.0


def _remember_licence_block(journal: Journal, cloud: CloudClient) -> None:
    stats = cloud.statistics()
    if stats.blocked and stats.blocked_status is not None:
        until = stats.blocked_until or time.time() + UNKNOWN_BLOCK_SECONDS
        journal.save_licence_block(status=stats.blocked_status, until=until)


class _Run:
    """One run's moving parts, wired together by ``execute``."""

    def __init__(
        self,
        settings: UploadSettings,
        source: ReceiptSource,
        journal: Journal,
        cloud: CloudClient,
        progress: Progress,
        failure_log: FailureLog,
        triage: Triage,
    ) -> None:
        self._settings = settings
        self._source = source
        self._journal = journal
        self._cloud = cloud
        self._progress = progress
        self._failures = failure_log
        self._triage = triage
        self.counters = RunCounters()
        self._scheduler: ClientScheduler[Prepared] = ClientScheduler(
            max(1024, 32 * settings.cloud.concurrency),
            max_bytes=SCHEDULER_BYTES,
            has_licence=lambda client, licence: (
                cloud.cached_licence(client, licence) is not None
            ),
        )
        self._stop_reason: StopReason | None = None
        self._failures_in_a_row = 0
        self._settled_at_progress = 0
        self._progress_at = time.monotonic()
        self._attempts_at_progress = 0
        self._outage_threshold = max(
            OUTAGE_MIN_FAILURES, 2 * settings.cloud.concurrency
        )
        self._feed_scope = anyio.CancelScope()
        self._work_scope = anyio.CancelScope()
        self._task_group: anyio.abc.TaskGroup | None = None

    async def execute(self, *, handle_signals: bool) -> RunSummary:
        started = time.monotonic()
        async with anyio.create_task_group() as services:
            self._task_group = services
            services.start_soon(self._tick)
            services.start_soon(self._count_total)
            if handle_signals and threading.current_thread() is threading.main_thread():
                services.start_soon(self._watch_signals)
            if self._settings.max_duration is not None:
                services.start_soon(self._time_limit, self._settings.max_duration)

            with self._work_scope:
                async with anyio.create_task_group() as work:
                    work.start_soon(self._feed)
                    for _ in range(self._settings.cloud.concurrency):
                        work.start_soon(self._upload_worker)
            services.cancel_scope.cancel()

        self._journal.commit()
        self._progress.update(self.counters, force=True)
        stats = self._cloud.statistics()
        return RunSummary.from_counters(
            self.counters,
            outcome=self._stop_reason or "completed",
            licence_calls=stats.licence_calls,
            logons=stats.logons,
            retries=stats.retries,
            throttled=stats.throttled,
            licence_blocked_until=stats.blocked_until,
            elapsed=time.monotonic() - started,
            failures_file=str(self._settings.failures)
            if self._settings.failures
            else None,
        )

    # -- stopping ------------------------------------------------------------

    def request_stop(self, reason: StopReason) -> None:
        """Stop handing out work; a second request cancels uploads in flight."""
        if self._stop_reason is not None:
            self._work_scope.cancel()
            return
        self._stop_reason = reason
        self._scheduler.stop()
        self._cloud.stop_new_requests()
        self._feed_scope.cancel()
        if self._task_group is not None:
            self._task_group.start_soon(self._grace_deadline)

    async def _grace_deadline(self) -> None:
        await anyio.sleep(self._settings.stop_grace)
        logger.warning(
            "Uploads still in flight after %.0f s; cancelling them",
            self._settings.stop_grace,
        )
        self._work_scope.cancel()

    async def _watch_signals(self) -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                if self._stop_reason is None:
                    self._progress.write(
                        f"{signal.Signals(signum).name}: finishing the uploads in "
                        "flight; press Ctrl-C again to stop at once."
                    )
                self.request_stop("interrupted")

    async def _time_limit(self, seconds: float) -> None:
        await anyio.sleep(seconds)
        self._progress.write(
            f"--max-duration reached: finishing the uploads in flight "
            f"(at most {self._settings.stop_grace:.0f} s)."
        )
        self.request_stop("time-limit")

    async def _count_total(self) -> None:
        # Folders and zip directories are counted in a thread while the
        # upload runs; tar archives cannot be counted cheaply (None).
        total = await anyio.to_thread.run_sync(
            self._source.count_cheaply, abandon_on_cancel=True
        )
        if total is not None:
            self.counters.total = total
            self._progress.set_total(total)

    async def _tick(self) -> None:
        interval = min(TICK_SECONDS, self._progress.interval)
        while True:
            await anyio.sleep(interval)
            self._progress.update(self.counters)
            if self._journal.commit_due():
                self._journal.commit()
            self._watch_for_outage()

    def _watch_for_outage(self) -> None:
        """Stop when nothing has got through for a while and retries pile up.

        Counting failed receipts alone is slow when each spends its whole
        retry budget first (minutes at low concurrency); this looks at the
        attempts instead. 429s do not count: a cloud asking us to slow down
        is working.
        """
        now = time.monotonic()
        stats = self._cloud.statistics()
        settled = self.counters.uploaded + self.counters.deferred
        failing_attempts = stats.retries - stats.throttled
        if settled != self._settled_at_progress or self._stop_reason is not None:
            self._settled_at_progress = settled
            self._progress_at = now
            self._attempts_at_progress = failing_attempts
            return
        if (
            now - self._progress_at >= self._settings.outage_after
            and failing_attempts - self._attempts_at_progress >= OUTAGE_MIN_RETRIES
        ):
            self._progress.write(
                f"Nothing got through for {format_duration(now - self._progress_at)} "
                f"while {failing_attempts - self._attempts_at_progress} attempts "
                "failed: the cloud seems to be down. Stopping; the next run sends "
                "what is left."
            )
            self.request_stop("cloud-unavailable")

    # -- reading and sorting -------------------------------------------------

    async def _feed(self) -> None:
        send: MemoryObjectSendStream[list[ReadItem]]
        receive: MemoryObjectReceiveStream[list[ReadItem]]
        send, receive = anyio.create_memory_object_stream[list[ReadItem]](4)
        try:
            with self._feed_scope:
                async with anyio.create_task_group() as feed:
                    feed.start_soon(self._read_sources, send)
                    await self._sort(receive)
            if not self._feed_scope.cancel_called:
                self._report_missing_from_manifest()
        finally:
            self._scheduler.close()

    async def _read_sources(self, send: MemoryObjectSendStream[list[ReadItem]]) -> None:
        items = iter(self._source)
        # One thread at a time walks the sources: generators must not be
        # advanced from two threads at once.
        walker = anyio.CapacityLimiter(1)
        async with send:
            while batch := await anyio.to_thread.run_sync(
                read_prepared, items, limiter=walker, abandon_on_cancel=True
            ):
                await send.send(batch)

    async def _sort(self, receive: MemoryObjectReceiveStream[list[ReadItem]]) -> None:
        counters = self.counters
        async with receive:
            async for batch in receive:
                for item in batch:
                    if isinstance(item, Prepared):
                        counters.found += 1
                        await self._sort_receipt(item)
                    elif isinstance(item, Skipped):
                        counters.skipped_filtered += 1
                    else:
                        counters.found += 1
                        self._fail_unusable(item)

    async def _sort_receipt(self, prepared: Prepared) -> None:
        decision, earlier = self._triage.decide(prepared)
        if decision == "send":
            await self._scheduler.put(prepared)
        elif decision == "done":
            self.counters.skipped_done += 1
        elif decision == "other-shard":
            self.counters.skipped_other_shard += 1
        else:
            reason = (earlier.reason if earlier else None) or "failed before"
            self.counters.failed_before += 1
            self._failures.write(
                origin=prepared.receipt.origin,
                client_id=prepared.receipt.client_id,
                name=prepared.receipt.name,
                sha256=prepared.digest.hex(),
                status="failed",
                http_status=earlier.http_status if earlier else None,
                reason=reason,
            )

    def _fail_unusable(self, item: Unusable) -> None:
        self.counters.failed += 1
        self.counters.unusable += 1
        self.counters.count_reason(item.reason)
        self._failures.write(
            origin=item.origin,
            client_id=item.client_id,
            name=item.name,
            status="unusable",
            reason=item.reason,
        )

    def _report_missing_from_manifest(self) -> None:
        for listed in self._source.missing_from_manifest():
            self._fail_unusable(
                Unusable(listed, "listed in the manifest but not found in any source")
            )

    # -- uploading -----------------------------------------------------------

    async def _upload_worker(self) -> None:
        while (prepared := await self._scheduler.get()) is not None:
            self.counters.in_flight += 1
            try:
                await self._upload(prepared)
            finally:
                self.counters.in_flight -= 1
                self._scheduler.done(prepared)

    async def _upload(self, prepared: Prepared) -> None:
        receipt = prepared.receipt
        try:
            await self._cloud.upload(
                client_id=receipt.client_id,
                license_id=receipt.license_id,
                name=receipt.name,
                data=prepared.data,
            )
        except UploadNotStarted:
            return  # the run is stopping; the next run sends it
        except LicenceBlocked as exc:
            self._record(prepared, "deferred", reason=exc.message)
        except LicenceUnavailable as exc:
            self._record(prepared, "failed", reason=exc.message)
        except UploadFailed as exc:
            self._record(
                prepared,
                "failed",
                reason=exc.message,
                permanent=exc.permanent,
                http_status=exc.status,
            )
            if not exc.permanent:
                self._count_passing_failure()
            return
        else:
            self._record(prepared, "uploaded")
        self._failures_in_a_row = 0

    def _count_passing_failure(self) -> None:
        self._failures_in_a_row += 1
        if (
            self._failures_in_a_row == self._outage_threshold
            and self._stop_reason is None
        ):
            self._progress.write(
                f"{self._failures_in_a_row} uploads in a row failed after all "
                "their retries: the cloud seems to be down. Stopping; the next "
                "run sends what is left."
            )
            self.request_stop("cloud-unavailable")

    def _record(
        self,
        prepared: Prepared,
        status: Literal["uploaded", "failed", "deferred"],
        *,
        reason: str | None = None,
        permanent: bool = False,
        http_status: int | None = None,
    ) -> None:
        receipt = prepared.receipt
        self._journal.record(
            Outcome(
                key=prepared.key,
                size=len(prepared.data),
                origin=receipt.origin,
                status=status,
                permanent=permanent,
                http_status=http_status,
                reason=reason,
            )
        )
        logger.debug(
            "receipt %s: client=%s name=%r origin=%r status=%s",
            status,
            receipt.client_id,
            receipt.name,
            receipt.origin,
            http_status,
        )
        counters = self.counters
        if status == "uploaded":
            counters.uploaded += 1
            counters.bytes_uploaded += len(prepared.data)
            return

        if status == "deferred":
            counters.deferred += 1
        else:
            counters.failed += 1
            counters.failed_retryable += not permanent
            counters.count_reason(reason or "failed")
        self._failures.write(
            origin=receipt.origin,
            client_id=receipt.client_id,
            name=receipt.name,
            sha256=prepared.digest.hex(),
            status=status,
            http_status=http_status,
            reason=reason or status,
        )
