"""The settings of one upload run, with defaults a person can read."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bulk_uploader.cloud import CloudSettings
from bulk_uploader.progress import DEFAULT_LINE_INTERVAL, ProgressMode
from bulk_uploader.sources import SourceOptions

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_OUTAGE_AFTER",
    "DEFAULT_STOP_GRACE",
    "Shard",
    "UploadSettings",
]

DEFAULT_CONCURRENCY = 16
DEFAULT_STOP_GRACE = 30.0
# A run stops as "cloud unavailable" when nothing got through for this long
# while attempts kept failing.
DEFAULT_OUTAGE_AFTER = 60.0


@dataclass(frozen=True, slots=True)
class Shard:
    """Worker ``index`` of ``count``: owns the clients whose hash falls on it."""

    index: int
    count: int


@dataclass(frozen=True, kw_only=True)
class UploadSettings:
    """Everything one run needs; the CLI builds it, scripts may too.

    ``cloud.concurrency`` is the number of uploads in flight at once.
    ``retry_failed`` is ``False``, ``True`` (every permanent failure in the
    journal) or the path of a ``--failures`` file (only those receipts).
    """

    sources: tuple[str, ...]
    cloud: CloudSettings
    source_options: SourceOptions = field(default_factory=SourceOptions)
    state: Path
    dry_run: bool = False
    retry_failed: bool | Path = False
    max_duration: float | None = None
    report: Path | None = None
    failures: Path | None = None
    shard: Shard | None = None
    progress: ProgressMode = "auto"
    progress_interval: float = DEFAULT_LINE_INTERVAL
    stop_grace: float = DEFAULT_STOP_GRACE
    outage_after: float = DEFAULT_OUTAGE_AFTER
