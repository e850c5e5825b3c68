"""What a run counts, and how it tells a person and a script what happened."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TextIO

from bulk_uploader.errors import (
    EXIT_BLOCKED,
    EXIT_FAILURES,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TIME_LIMIT,
    EXIT_UNAVAILABLE,
    ConfigError,
)

__all__ = [
    "Counts",
    "FailureLog",
    "RunCounters",
    "RunSummary",
    "format_bytes",
    "format_duration",
]

# A run with many distinct reasons (one per file name, say) must not grow
# memory without bound; past this many, new reasons are counted as "other".
MAX_DISTINCT_REASONS = 1000
TOP_REASONS = 5


@dataclass(slots=True)
class Counts:
    """What a run counts; the live counters and the summary both carry these."""

    found: int = 0
    uploaded: int = 0
    bytes_uploaded: int = 0
    skipped_done: int = 0
    skipped_filtered: int = 0
    skipped_other_shard: int = 0
    failed: int = 0
    failed_retryable: int = 0
    unusable: int = 0
    failed_before: int = 0
    deferred: int = 0
    total: int | None = None

    @property
    def skipped(self) -> int:
        return self.skipped_done + self.skipped_filtered + self.skipped_other_shard


@dataclass(slots=True)
class RunCounters(Counts):
    """Live counts, updated by the pipeline and read by the progress display."""

    in_flight: int = 0
    planning: bool = False
    reasons: Counter[str] = field(default_factory=Counter)

    def count_reason(self, reason: str) -> None:
        if reason in self.reasons or len(self.reasons) < MAX_DISTINCT_REASONS:
            self.reasons[reason] += 1
        else:
            self.reasons["(other reasons)"] += 1


@dataclass(slots=True)
class RunSummary(Counts):
    """The account of a run: what the summary prints and ``--report`` writes."""

    outcome: str = "completed"
    dry_run: bool = False
    top_reasons: list[tuple[str, int]] = field(default_factory=list)
    licence_calls: int = 0
    logons: int = 0
    retries: int = 0
    throttled: int = 0
    licence_blocked_until: float | None = None
    elapsed: float = 0.0
    failures_file: str | None = None
    plan: dict[str, Any] | None = None

    @classmethod
    def from_counters(cls, counters: RunCounters, **extra: Any) -> RunSummary:
        counts = {f.name: getattr(counters, f.name) for f in fields(Counts)}
        return cls(
            **counts,
            top_reasons=counters.reasons.most_common(TOP_REASONS),
            **extra,
        )

    @property
    def throughput(self) -> float:
        """Receipts uploaded per second of the whole run."""
        return self.uploaded / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def exit_code(self) -> int:
        """The documented exit code for this outcome (see README)."""
        if self.dry_run:
            # A plan predicts: input problems would fail the real run too.
            return EXIT_FAILURES if self.failed else EXIT_OK
        if self.outcome == "interrupted":
            return EXIT_INTERRUPTED
        if self.outcome == "cloud-unavailable":
            return EXIT_UNAVAILABLE
        if self.deferred:
            return EXIT_BLOCKED
        if self.failed or self.failed_before:
            return EXIT_FAILURES
        if self.outcome == "time-limit":
            return EXIT_TIME_LIMIT
        return EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["top_reasons"] = [
            {"reason": reason, "count": count} for reason, count in self.top_reasons
        ]
        data["skipped"] = self.skipped
        data["not_sent"] = self.not_sent
        data["throughput_per_second"] = round(self.throughput, 2)
        data["exit_code"] = self.exit_code
        return data

    def write_json(self, path: str | os.PathLike[str]) -> None:
        Path(path).write_text(
            json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )

    def render(self) -> str:
        """A summary a person reads in five seconds."""
        if self.plan is not None:
            return render_plan(self.plan)
        headline = {
            "completed": "Done.",
            "interrupted": "Interrupted: nothing in flight was lost; "
            "run the same command again to send the rest.",
            "time-limit": "Stopped at --max-duration; "
            "run the same command again to send the rest.",
            "cloud-unavailable": "Stopped early: the cloud kept failing. Run the "
            "same command again later to send the rest.",
        }.get(self.outcome, self.outcome)
        rate = (
            f"{self.throughput:,.1f} receipts/s, "
            f"{format_bytes(self.bytes_uploaded / self.elapsed)}/s"
            if self.elapsed > 0 and self.uploaded
            else "nothing sent"
        )
        lines = [
            headline,
            f"  uploaded   {self.uploaded:>10,}  ({format_bytes(self.bytes_uploaded)})",
            f"  skipped    {self.skipped:>10,}  (already uploaded "
            f"{self.skipped_done:,}, filtered or junk {self.skipped_filtered:,}"
            + (
                f", other shards {self.skipped_other_shard:,}"
                if self.skipped_other_shard
                else ""
            )
            + ")",
            self._failed_line(),
        ]
        if self.deferred:
            lines.append(
                f"  deferred   {self.deferred:>10,}  (no licence token: the "
                f"licence endpoint blocked us{self._block_end()}; a run after "
                "that sends them)"
            )
        not_sent = self.not_sent
        if self.outcome != "completed" and not_sent:
            lines.append(
                f"  not sent   {not_sent:>10,}  (not tried in this run; the next "
                "run sends them)"
            )
        lines.append(
            f"  licence calls {self.licence_calls:,}, upload retries "
            f"{self.retries:,}, upload 429s {self.throttled:,}; "
            f"{format_duration(self.elapsed)}, {rate}"
        )
        if self.top_reasons:
            lines.append("  most common failures:")
            lines.extend(
                f"    {count:>8,}  {reason}" for reason, count in self.top_reasons
            )
        if self.found == 0 and self.outcome == "completed":
            lines.append(
                "  No receipts were found in the sources: check the paths and "
                "any --include / --exclude."
            )
        if self.failures_file and (self.failed or self.deferred or self.failed_before):
            lines.append(
                f"  every failed or deferred receipt is listed in {self.failures_file}"
            )
        return "\n".join(lines)

    @property
    def not_sent(self) -> int:
        """Receipts the sources hold that this run never got to (0: unknown)."""
        if self.total is None:
            return 0
        seen = self.uploaded + self.skipped + self.failed + self.deferred
        return max(0, self.total - seen - self.failed_before)

    def _failed_line(self) -> str:
        permanent = self.failed - self.failed_retryable - self.unusable
        parts = [
            (self.failed_retryable, "go out again with the next run"),
            (permanent, "failed for good (--retry-failed sends them again)"),
            (
                self.failed_before,
                "failed for good in an earlier run (--retry-failed sends them again)",
            ),
            (self.unusable, "input problems"),
        ]
        said = [f"{count:,} {text}" for count, text in parts if count]
        line = f"  failed     {self.failed + self.failed_before:>10,}"
        return line + (f"  ({'; '.join(said)})" if said else "")

    def _block_end(self) -> str:
        if self.licence_blocked_until is None:
            return ""
        when = time.strftime(
            "%Y-%m-%d %H:%M", time.localtime(self.licence_blocked_until)
        )
        return f" until {when}"


class FailureLog:
    """``--failures FILE``: one JSON line per receipt that did not arrive.

    Each line holds origin, client, name, sha256, status, http_status and
    reason; ``--retry-failed FILE`` reads the same file back.
    """

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path = path
        self._file: TextIO | None = None
        if path is not None:
            try:
                self._file = open(path, "w", encoding="utf-8")  # noqa: SIM115
            except OSError as exc:
                raise ConfigError(
                    f"--failures: cannot write {path}: {exc.strerror}."
                ) from exc

    def __enter__(self) -> FailureLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def write(
        self,
        *,
        origin: str,
        reason: str,
        status: str,
        client_id: str | None = None,
        name: str | None = None,
        sha256: str | None = None,
        http_status: int | None = None,
    ) -> None:
        if self._file is None:
            return
        line = {
            "origin": origin,
            "client_id": client_id,
            "name": name,
            "sha256": sha256,
            "status": status,
            "http_status": http_status,
            "reason": reason,
        }
        self._file.write(json.dumps(line, ensure_ascii=False) + "\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def check_writable(path: str | os.PathLike[str], option: str) -> None:
    """Refuse, before a long run, an output file that could not be written."""
    target = Path(path)
    if target.is_dir():
        raise ConfigError(f"{option} {target}: that is a folder; name a file.")
    folder = target.parent
    if not folder.is_dir():
        raise ConfigError(f"{option} {target}: the folder {folder} does not exist.")
    if not os.access(folder, os.W_OK) or (
        target.exists() and not os.access(target, os.W_OK)
    ):
        raise ConfigError(f"{option} {target}: not writable.")


def read_failure_keys(path: str | os.PathLike[str]) -> set[tuple[str, str, str]]:
    """The (client, name, sha256) of every line of a ``--failures`` file."""

    keys: set[tuple[str, str, str]] = set()
    try:
        with open(path, encoding="utf-8") as file:
            for number, line in enumerate(file, start=1):
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                    if entry.get("client_id") and entry.get("name"):
                        keys.add(
                            (
                                entry["client_id"],
                                entry["name"],
                                entry.get("sha256") or "",
                            )
                        )
                except (json.JSONDecodeError, AttributeError) as exc:
                    raise ConfigError(
                        f"{path}, line {number}: not a line of a --failures file "
                        f"({exc}). Pass the file that --failures wrote."
                    ) from exc
    except OSError as exc:
        raise ConfigError(
            f"Cannot read the failures file {path}: {exc.strerror}."
        ) from exc
    return keys


def format_bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(count) < 1000 or unit == "GB":
            return f"{count:,.0f} {unit}" if unit == "B" else f"{count:,.1f} {unit}"
        count /= 1000
    return f"{count:,.1f} TB"  # pragma: no cover - the loop returns at GB


def format_duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


PLAN_CLIENT_ROWS = 20


def render_plan(plan: dict[str, Any]) -> str:
    """The ``--dry-run`` plan as a person reads it."""
    tokens = plan["licence_tokens"]
    lines = [
        "Dry run: nothing was sent.",
        f"  receipts found     {plan['receipts_found']:>10,}",
        f"  would upload       {plan['to_send']:>10,}  "
        f"({format_bytes(plan['bytes_to_send'])})",
        f"  already uploaded   {plan['already_uploaded']:>10,}",
        f"  failed before      {plan['failed_before']:>10,}  "
        "(sent again only with --retry-failed)",
        f"  skipped            {plan['skipped']:>10,}  (filtered or junk)",
        f"  input problems     {plan['problems']:>10,}",
    ]
    if plan["other_shard"]:
        lines.append(f"  other shards       {plan['other_shard']:>10,}")
    lines.append(
        f"  licence tokens: {tokens['cached']:,} cached, "
        f"{tokens['to_refresh']:,} to refresh, {tokens['to_fetch']:,} to fetch"
    )
    if plan["estimated_upload_seconds"] is not None:
        lines.append(
            f"  time at --rate {plan['rate']:g}/s: "
            f"{format_duration(plan['estimated_upload_seconds'])} of uploads"
        )
    else:
        lines.append(
            "  time: no --rate ceiling set, so it depends on the cloud's limits"
        )
    if plan["estimated_licence_seconds"]:
        lines.append(
            f"  licence fetches at {plan['licence_rate']:g}/s take at least "
            f"{format_duration(plan['estimated_licence_seconds'])}"
        )
    for entry in plan["problem_reasons"]:
        lines.append(f"    {entry['count']:>8,}  {entry['reason']}")
    clients = [c for c in plan["clients"] if c["to_send"]]
    if clients:
        lines.append(f"  clients with receipts to send: {len(clients):,}")
        for client in clients[:PLAN_CLIENT_ROWS]:
            lines.append(
                f"    {client['client_id']}  {client['to_send']:>8,} receipts  "
                f"{format_bytes(client['bytes_to_send']):>10}  "
                f"token: {client['licence_token']}"
            )
        if len(clients) > PLAN_CLIENT_ROWS:
            lines.append(
                f"    ... and {len(clients) - PLAN_CLIENT_ROWS:,} more "
                "(all of them in --report)"
            )
    return "\n".join(lines)
