"""The journal: a SQLite file that remembers what was sent, across runs.

The cloud cannot be listed, so the journal is the only record of which
receipts have arrived. A receipt is known by (client, file name, SHA-256 of
its bytes), never by where it lies, so moving or renaming archives does not
cause a second upload.

Writes are queued and committed in batches (at most ``commit_interval``
apart), by one writer: the event-loop thread that owns the ``Journal``.
Licence tokens are committed at once, because fetching one again costs far
more than a commit. Another run on the same file is kept out by an
exclusive lock on a sidecar file, which the operating system releases even
after a kill -9.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TextIO

from bulk_uploader.cloud import StoredLicenceToken
from bulk_uploader.errors import JournalError, JournalLocked

__all__ = [
    "DEFAULT_COMMIT_INTERVAL",
    "ClientTotals",
    "Journal",
    "Outcome",
    "ReceiptKey",
    "Status",
    "default_state_path",
]

logger = logging.getLogger(__name__)

DEFAULT_COMMIT_INTERVAL = 1.0
DEFAULT_COMMIT_BATCH = 2000
SCHEMA_VERSION = 1

Status = Literal["uploaded", "failed", "deferred"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS receipts (
    client_id TEXT NOT NULL,
    name TEXT NOT NULL,
    sha256 BLOB NOT NULL,
    size INTEGER NOT NULL,
    origin TEXT NOT NULL,
    status TEXT NOT NULL,
    permanent INTEGER NOT NULL DEFAULT 0,
    http_status INTEGER,
    reason TEXT,
    run_id INTEGER,
    updated_at REAL NOT NULL,
    PRIMARY KEY (client_id, name, sha256)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS licence_tokens (
    client_id TEXT NOT NULL,
    license_id TEXT NOT NULL,
    token TEXT NOT NULL,
    expires_at REAL NOT NULL,
    fetched_at REAL NOT NULL,
    PRIMARY KEY (client_id, license_id)
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    started_at REAL NOT NULL,
    finished_at REAL,
    outcome TEXT,
    summary TEXT
);
"""


def default_state_path() -> Path:
    """Where the journal lives when ``--state`` is not given.

    ``$XDG_STATE_HOME/bulk-uploader/state.sqlite``, which is
    ``~/.local/state/bulk-uploader/state.sqlite`` on most systems.
    """
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "bulk-uploader" / "state.sqlite"


@dataclass(frozen=True, slots=True)
class ReceiptKey:
    """What makes two receipts the same for the cloud: client, name, content."""

    client_id: str
    name: str
    sha256: bytes


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one receipt in one run, as the journal stores it."""

    key: ReceiptKey
    size: int
    origin: str
    status: Status
    permanent: bool = False
    http_status: int | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ClientTotals:
    """Counts per outcome for one client, for ``bulk-uploader status``."""

    client_id: str
    uploaded: int
    failed: int
    deferred: int
    bytes_uploaded: int


class Journal:
    """The state file: receipts done and failed, licence tokens, runs.

    Use as a context manager; it takes the lock on entry and commits and
    releases it on exit, whatever happened in between.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        commit_interval: float = DEFAULT_COMMIT_INTERVAL,
        commit_batch: int = DEFAULT_COMMIT_BATCH,
        read_only: bool = False,
    ) -> None:
        self.path = Path(path)
        self._commit_interval = commit_interval
        self._commit_batch = commit_batch
        self._read_only = read_only
        self._pending: list[tuple[object, ...]] = []
        self._last_commit = time.monotonic()
        self._lock_file: TextIO | None = None
        self._db: sqlite3.Connection | None = None
        self.run_id: int | None = None

    # -- opening and closing -------------------------------------------------

    def __enter__(self) -> Journal:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def open(self) -> None:
        """Take the lock, create the file if needed (owner-only), set up tables.

        A file that is not ours (another program's SQLite database, a text
        file, a device) is refused before anything is written to it.
        """
        self._refuse_odd_paths()
        if not self._read_only:
            self._create_private_file()
            self._take_lock()

        try:
            mode = "ro" if self._read_only else "rwc"
            uri = f"{self.path.resolve().as_uri()}?mode={mode}"
            self._db = sqlite3.connect(uri, uri=True, isolation_level=None)
            self._check_ours()
            if not self._read_only:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.executescript(_SCHEMA)
                self._check_schema_version()
        except (sqlite3.DatabaseError, JournalError) as exc:
            if self._db is not None:
                self._db.close()
                self._db = None
            if self._lock_file is not None:
                # The file is not ours: leave nothing of ours beside it.
                with contextlib.suppress(OSError):
                    self._lock_path.unlink()
            self._release_lock()
            if isinstance(exc, JournalError):
                raise
            raise JournalError(
                f"The state file {self.path} cannot be used: {exc}. If it is not "
                "a bulk-uploader state file, pass --state to name another one."
            ) from exc

    def _refuse_odd_paths(self) -> None:
        if not self.path.exists():
            if self._read_only:
                raise JournalError(
                    f"No state file at {self.path}: nothing has been uploaded "
                    "with it yet. Pass --state to name another one."
                )
            return
        if not self.path.is_file():
            raise JournalError(
                f"--state {self.path} is not a regular file. Name a file "
                "(it is created if missing)."
            )
        mode = self.path.stat().st_mode
        if not self._read_only and mode & 0o077:
            # It holds licence tokens: nobody but its owner may read it.
            with contextlib.suppress(OSError):
                os.chmod(self.path, 0o600)

    def _check_ours(self) -> None:
        tables = {
            row[0]
            for row in self._conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            )
        }
        if tables and not {"meta", "receipts", "licence_tokens"} <= tables:
            raise JournalError(
                f"The state file {self.path} is a SQLite database of another "
                "program; it was left as it was. Pass --state to name another file."
            )

    def close(self) -> None:
        """Commit what is pending and release the file."""
        try:
            if self._db is not None:
                if not self._read_only:
                    self.commit()
                self._db.close()
        finally:
            self._db = None
            self._release_lock()

    def _create_private_file(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
            os.close(fd)
        except OSError as exc:
            raise JournalError(
                f"Cannot create the state file {self.path}: {exc.strerror}. "
                "Check that the folder is writable, or pass --state."
            ) from exc

    def _take_lock(self) -> None:
        lock_path = self._lock_path
        lock_file = open(lock_path, "a+", encoding="utf-8")  # noqa: SIM115
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.seek(0)
            holder = lock_file.read().strip() or "another process"
            lock_file.close()
            raise JournalLocked(
                f"The state file {self.path} is in use by {holder}. Wait for "
                "that run to finish, or give this run its own --state."
            ) from None
        lock_file.seek(0)
        lock_file.truncate()
        lock_file.write(f"process {os.getpid()}\n")
        lock_file.flush()
        self._lock_file = lock_file

    @property
    def _lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def _release_lock(self) -> None:
        if self._lock_file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def _check_schema_version(self) -> None:
        row = self._conn.execute(
            "SELECT value FROM meta WHERE key = 'schema'"
        ).fetchone()
        if row is None:
            self._conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema', ?)",
                (str(SCHEMA_VERSION),),
            )
        elif int(row[0]) > SCHEMA_VERSION:
            raise JournalError(
                f"The state file {self.path} was written by a newer "
                "bulk-uploader. Upgrade, or pass --state to use another file."
            )

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise JournalError("The state file is not open.")
        return self._db

    # -- runs ----------------------------------------------------------------

    def start_run(self) -> int:
        """Record the start of a run and return its id."""
        cursor = self._conn.execute(
            "INSERT INTO runs (started_at) VALUES (?)", (time.time(),)
        )
        self.run_id = cursor.lastrowid
        if self.run_id is None:
            raise JournalError("The state file did not record the run.")
        return self.run_id

    def finish_run(self, outcome: str, summary: dict[str, object]) -> None:
        """Record how the run ended, with its summary, and commit everything."""
        self.commit()
        self._conn.execute(
            "UPDATE runs SET finished_at = ?, outcome = ?, summary = ? WHERE id = ?",
            (time.time(), outcome, json.dumps(summary), self.run_id),
        )

    # -- receipts ------------------------------------------------------------

    def lookup(self, key: ReceiptKey) -> Outcome | None:
        """What the journal last recorded for a receipt, if anything."""
        row = self._conn.execute(
            "SELECT size, origin, status, permanent, http_status, reason "
            "FROM receipts WHERE client_id = ? AND name = ? AND sha256 = ?",
            (key.client_id, key.name, key.sha256),
        ).fetchone()
        if row is None:
            return None
        return Outcome(
            key=key,
            size=row[0],
            origin=row[1],
            status=row[2],
            permanent=bool(row[3]),
            http_status=row[4],
            reason=row[5],
        )

    def record(self, outcome: Outcome) -> None:
        """Queue an outcome; it is committed with the next batch.

        An upload that succeeded is never overwritten by a later failure of a
        copy of the same receipt.
        """
        key = outcome.key
        self._pending.append(
            (
                key.client_id,
                key.name,
                key.sha256,
                outcome.size,
                outcome.origin,
                outcome.status,
                int(outcome.permanent),
                outcome.http_status,
                outcome.reason,
                self.run_id,
                time.time(),
            )
        )
        if len(self._pending) >= self._commit_batch or self.commit_due():
            self.commit()

    def commit_due(self) -> bool:
        """Whether pending outcomes have waited ``commit_interval`` or more."""
        return bool(self._pending) and (
            time.monotonic() - self._last_commit >= self._commit_interval
        )

    def commit(self) -> None:
        """Write every pending outcome in one transaction."""
        self._last_commit = time.monotonic()
        if not self._pending:
            return
        rows, self._pending = self._pending, []
        try:
            with self._transaction():
                self._conn.executemany(
                    "INSERT INTO receipts (client_id, name, sha256, size, origin, "
                    "status, permanent, http_status, reason, run_id, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (client_id, name, sha256) DO UPDATE SET "
                    "size = excluded.size, origin = excluded.origin, "
                    "status = excluded.status, permanent = excluded.permanent, "
                    "http_status = excluded.http_status, reason = excluded.reason, "
                    "run_id = excluded.run_id, updated_at = excluded.updated_at "
                    "WHERE receipts.status != 'uploaded'",
                    rows,
                )
        except sqlite3.Error as exc:
            raise JournalError(
                f"Cannot write to the state file {self.path}: {exc}. "
                f"{len(rows)} results were not saved; their receipts will be "
                "sent again by the next run."
            ) from exc

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def failures(self, *, permanent_only: bool = False) -> list[Outcome]:
        """Receipts whose last upload failed or was deferred."""
        rows = self._conn.execute(
            "SELECT client_id, name, sha256, size, origin, status, permanent, "
            "http_status, reason FROM receipts WHERE status != 'uploaded' "
            "AND (permanent = 1 OR NOT ?) ORDER BY client_id, name",
            (permanent_only,),
        ).fetchall()
        return [
            Outcome(
                key=ReceiptKey(row[0], row[1], row[2]),
                size=row[3],
                origin=row[4],
                status=row[5],
                permanent=bool(row[6]),
                http_status=row[7],
                reason=row[8],
            )
            for row in rows
        ]

    def totals_per_client(self) -> list[ClientTotals]:
        """Counts per outcome for every client in the journal."""
        rows = self._conn.execute(
            "SELECT client_id, "
            "SUM(status = 'uploaded'), SUM(status = 'failed'), "
            "SUM(status = 'deferred'), "
            "SUM(CASE WHEN status = 'uploaded' THEN size ELSE 0 END) "
            "FROM receipts GROUP BY client_id ORDER BY client_id"
        ).fetchall()
        return [ClientTotals(*row) for row in rows]

    def last_runs(
        self, limit: int = 5
    ) -> list[tuple[int, float, float | None, str, int | None]]:
        """The most recent runs: id, start, end, outcome and exit code."""
        rows = self._conn.execute(
            "SELECT id, started_at, finished_at, COALESCE(outcome, 'unfinished'), "
            "summary FROM runs ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [(row[0], row[1], row[2], row[3], _exit_code(row[4])) for row in rows]

    # -- licence tokens (the cloud client's LicenceTokenStore) --------------

    def load_licence_token(
        self, client_id: str, license_id: str
    ) -> StoredLicenceToken | None:
        """The stored licence token for a client and licence, if any."""
        row = self._conn.execute(
            "SELECT token, expires_at, fetched_at FROM licence_tokens "
            "WHERE client_id = ? AND license_id = ?",
            (client_id, license_id),
        ).fetchone()
        if row is None:
            return None
        return StoredLicenceToken(
            client_id=client_id,
            license_id=license_id,
            token=row[0],
            expires_at=row[1],
            fetched_at=row[2],
        )

    def save_licence_token(self, token: StoredLicenceToken) -> None:
        """Store a licence token and commit at once: a refetch costs more."""
        if self._read_only:
            return
        self._conn.execute(
            "INSERT INTO licence_tokens "
            "(client_id, license_id, token, expires_at, fetched_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (client_id, license_id) "
            "DO UPDATE SET token = excluded.token, "
            "expires_at = excluded.expires_at, fetched_at = excluded.fetched_at",
            (
                token.client_id,
                token.license_id,
                token.token,
                token.expires_at,
                token.fetched_at,
            ),
        )

    def load_licence_block(self) -> tuple[int, float] | None:
        """The status and end of the last licence block an earlier run met."""
        rows = dict(
            self._conn.execute(
                "SELECT key, value FROM meta WHERE key IN "
                "('licence_block_status', 'licence_block_until')"
            ).fetchall()
        )
        if len(rows) != 2:
            return None
        return int(rows["licence_block_status"]), float(rows["licence_block_until"])

    def save_licence_block(self, *, status: int, until: float) -> None:
        """Remember that the licence endpoint blocked us until ``until``."""
        self._conn.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [
                ("licence_block_status", str(status)),
                ("licence_block_until", repr(until)),
            ],
        )

    def licence_tokens(self) -> list[tuple[str, str, float, float]]:
        """Client, licence, expiry and fetch time of every stored token."""
        rows: Sequence[tuple[str, str, float, float]] = self._conn.execute(
            "SELECT client_id, license_id, expires_at, fetched_at "
            "FROM licence_tokens ORDER BY expires_at, client_id"
        ).fetchall()
        return list(rows)


def _exit_code(summary: str | None) -> int | None:
    if not summary:
        return None
    try:
        code = json.loads(summary).get("exit_code")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, int) else None
