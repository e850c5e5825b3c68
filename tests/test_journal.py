"""The journal: a real SQLite file, its lock, its batches and its tokens."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bulk_uploader.cloud import StoredLicenceToken
from bulk_uploader.errors import JournalError, JournalLocked
from bulk_uploader.journal import Journal, Outcome, ReceiptKey

CLIENT = "5a0c8d8e-0b4f-4d5e-9d3a-2f1b6c7d8e9f"


def key(name: str, content: bytes = b"{}") -> ReceiptKey:
    return ReceiptKey(CLIENT, name, hashlib.sha256(content).digest())


def outcome(name: str, status: str = "uploaded", **extra: object) -> Outcome:
    return Outcome(
        key=key(name), size=2, origin=f"folder/{name}", status=status, **extra
    )  # type: ignore[arg-type]


def test_state_file_is_private_to_its_owner(tmp_path: Path) -> None:
    """The state file holds licence tokens: mode 0600, folder 0700."""
    path = tmp_path / "new" / "state.sqlite"
    with Journal(path):
        pass
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_outcomes_survive_reopening(tmp_path: Path) -> None:
    """What one run records, the next run reads back by client, name and content."""
    path = tmp_path / "state.sqlite"
    with Journal(path) as journal:
        journal.start_run()
        journal.record(outcome("a.json"))
        journal.record(
            outcome(
                "b.json", "failed", permanent=True, http_status=413, reason="too large"
            )
        )

    with Journal(path) as journal:
        uploaded = journal.lookup(key("a.json"))
        failed = journal.lookup(key("b.json"))
        assert journal.lookup(key("a.json", b"other content")) is None

    assert uploaded is not None
    assert uploaded.status == "uploaded"
    assert failed is not None
    assert (failed.status, failed.permanent, failed.http_status, failed.reason) == (
        "failed",
        True,
        413,
        "too large",
    )


def test_a_later_failure_never_overwrites_an_upload(tmp_path: Path) -> None:
    """A copy of an uploaded receipt failing later must not make it 'to do' again."""
    with Journal(tmp_path / "state.sqlite") as journal:
        journal.record(outcome("a.json"))
        journal.commit()
        journal.record(outcome("a.json", "failed", reason="503"))
        journal.commit()
        recorded = journal.lookup(key("a.json"))
    assert recorded is not None
    assert recorded.status == "uploaded"


def test_records_are_batched_until_due(tmp_path: Path) -> None:
    """Outcomes wait for a batch commit; another connection sees them only after."""
    path = tmp_path / "state.sqlite"
    with Journal(path, commit_interval=3600, commit_batch=1000) as journal:
        journal.record(outcome("a.json"))
        other = sqlite3.connect(path)
        assert other.execute("SELECT COUNT(*) FROM receipts").fetchone() == (0,)
        journal.commit()
        assert other.execute("SELECT COUNT(*) FROM receipts").fetchone() == (1,)
        other.close()


def test_a_full_batch_commits_by_itself(tmp_path: Path) -> None:
    """commit_batch bounds how much a hard kill can lose."""
    path = tmp_path / "state.sqlite"
    with Journal(path, commit_interval=3600, commit_batch=10) as journal:
        for number in range(25):
            journal.record(outcome(f"{number}.json"))
        other = sqlite3.connect(path)
        assert other.execute("SELECT COUNT(*) FROM receipts").fetchone() == (20,)
        other.close()


def test_second_run_on_the_same_file_is_refused(tmp_path: Path) -> None:
    """Two runs on one state file: the second gets a clear message, exit 2."""
    path = tmp_path / "state.sqlite"
    with Journal(path), pytest.raises(JournalLocked) as caught:
        Journal(path).open()
    assert "in use by process" in str(caught.value)
    assert "--state" in str(caught.value)
    assert caught.value.exit_code == 2


def test_lock_is_released_when_the_holder_is_killed(tmp_path: Path) -> None:
    """A run killed with -9 does not leave the state file locked."""
    path = tmp_path / "state.sqlite"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from bulk_uploader.journal import Journal\n"
            f"j = Journal({str(path)!r}); j.open(); print('ready', flush=True)\n"
            "time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "ready\n"
        with pytest.raises(JournalLocked):
            Journal(path).open()
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    with Journal(path):
        pass


def test_licence_tokens_round_trip(tmp_path: Path) -> None:
    """A stored licence token is what the next run loads; the newer one wins."""
    path = tmp_path / "state.sqlite"
    old = StoredLicenceToken(
        client_id=CLIENT,
        license_id="L1",
        token="eyJ.old",
        expires_at=100.0,
        fetched_at=1.0,
    )
    new = StoredLicenceToken(
        client_id=CLIENT,
        license_id="L1",
        token="eyJ.new",
        expires_at=200.0,
        fetched_at=2.0,
    )
    with Journal(path) as journal:
        journal.save_licence_token(old)
        journal.save_licence_token(new)
    with Journal(path) as journal:
        assert journal.load_licence_token(CLIENT, "L1") == new
        assert journal.load_licence_token(CLIENT, "L2") is None
        assert journal.licence_tokens() == [(CLIENT, "L1", 200.0, 2.0)]


def test_not_a_state_file_gets_a_clear_error(tmp_path: Path) -> None:
    """Pointing --state at some other file says so instead of a sqlite traceback."""
    path = tmp_path / "notes.txt"
    path.write_text("these are my notes, not a database\n" * 100)
    with pytest.raises(JournalError, match="cannot be used") as caught:
        Journal(path).open()
    assert "--state" in str(caught.value)
    assert path.read_text().startswith("these are my notes")


def test_read_only_journal_needs_an_existing_file(tmp_path: Path) -> None:
    """`status` on a state file that does not exist explains instead of creating it."""
    path = tmp_path / "missing.sqlite"
    with pytest.raises(JournalError, match="No state file"):
        Journal(path, read_only=True).open()
    assert not path.exists()


def test_unwritable_folder_is_reported(tmp_path: Path) -> None:
    """A state file in a folder we may not write to gives a message to act on."""
    if os.geteuid() == 0:
        target = Path("/proc/bulk-uploader-test/state.sqlite")
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = locked / "state.sqlite"
    with pytest.raises(JournalError, match="Cannot create the state file"):
        Journal(target).open()


def test_totals_per_client_and_failures(tmp_path: Path) -> None:
    """status reads counts per outcome; failures lists what is not uploaded."""
    with Journal(tmp_path / "state.sqlite") as journal:
        journal.start_run()
        journal.record(outcome("a.json"))
        journal.record(outcome("b.json", "failed", permanent=True, reason="413"))
        journal.record(outcome("c.json", "deferred", reason="blocked"))
        journal.commit()
        totals = journal.totals_per_client()
        failures = journal.failures()
        permanent = journal.failures(permanent_only=True)
    assert [(t.uploaded, t.failed, t.deferred, t.bytes_uploaded) for t in totals] == [
        (1, 1, 1, 2)
    ]
    assert sorted(f.key.name for f in failures) == ["b.json", "c.json"]
    assert [f.key.name for f in permanent] == ["b.json"]


def test_licence_block_is_remembered(tmp_path: Path) -> None:
    """A block one run met is read back by the next, the newest winning."""
    path = tmp_path / "state.sqlite"
    with Journal(path) as journal:
        assert journal.load_licence_block() is None
        journal.save_licence_block(status=429, until=1000.5)
        journal.save_licence_block(status=403, until=2000.25)
    with Journal(path) as journal:
        assert journal.load_licence_block() == (403, 2000.25)


def test_another_programs_database_is_left_alone(tmp_path: Path) -> None:
    """--state naming some other SQLite file: refused, not a byte changed."""
    path = tmp_path / "crm.db"
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE runs (id INTEGER, who TEXT)")
    other.execute("CREATE TABLE customers (name TEXT)")
    other.commit()
    other.close()
    before = path.read_bytes()

    with pytest.raises(JournalError, match="SQLite database of another program"):
        Journal(path).open()

    assert path.read_bytes() == before
    assert not (tmp_path / "crm.db.lock").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crm.db"]


def test_a_device_is_not_a_state_file(tmp_path: Path) -> None:
    """--state /dev/null is refused before any file is made beside it."""
    with pytest.raises(JournalError, match="is not a regular file"):
        Journal("/dev/null").open()
    assert not Path("/dev/null.lock").exists()
    with pytest.raises(JournalError, match="is not a regular file"):
        Journal(tmp_path).open()


def test_an_existing_readable_state_file_is_made_private(tmp_path: Path) -> None:
    """A state file others could read is narrowed to its owner: it holds tokens."""
    path = tmp_path / "state.sqlite"
    path.touch(mode=0o644)
    os.chmod(path, 0o644)
    with Journal(path):
        pass
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_status_on_a_file_that_is_not_a_journal(tmp_path: Path) -> None:
    """Reading a text file as a journal gives our message, not sqlite's traceback."""
    path = tmp_path / "precious.txt"
    path.write_text("my notes\n" * 200)
    with pytest.raises(JournalError, match="cannot be used"):
        Journal(path, read_only=True).open()
    assert path.read_text() == "my notes\n" * 200
