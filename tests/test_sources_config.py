"""What ReceiptSource refuses up front, before anything is read or sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bulk_uploader.errors import ConfigError
from bulk_uploader.sources import ReceiptSource, SourceOptions, Unusable


def test_a_missing_path_is_named(tmp_path: Path) -> None:
    """A source that does not exist stops the run with its path."""
    with pytest.raises(ConfigError, match="does not exist") as raised:
        ReceiptSource([tmp_path, tmp_path / "nowhere"], SourceOptions())

    assert str(tmp_path / "nowhere") in str(raised.value)


def test_a_file_that_is_not_an_archive_is_refused(tmp_path: Path) -> None:
    """A plain file on the command line is refused, listing what is accepted."""
    receipt = tmp_path / "r.json"
    receipt.write_text("{}")

    with pytest.raises(ConfigError, match="neither a folder nor a supported archive"):
        ReceiptSource([receipt], SourceOptions())
    with pytest.raises(ConfigError, match=r"\.tar\.xz"):
        ReceiptSource([receipt], SourceOptions())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"client_id_from": "manifest"}, "needs --manifest"),
        ({"client_id_from": "filename"}, "unknown client id source 'filename'"),
        ({"max_size": 0}, "must be positive"),
    ],
)
def test_inconsistent_options_are_refused(
    tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    """Options that cannot work together are a ConfigError, not a failed run."""
    with pytest.raises(ConfigError, match=message):
        ReceiptSource([tmp_path], SourceOptions(**options))


def test_no_sources_is_refused() -> None:
    """An empty list of sources is a mistake, not an empty run."""
    with pytest.raises(ConfigError, match="no folder or archive"):
        ReceiptSource([], SourceOptions())


def test_archives_are_not_opened_until_iteration(tmp_path: Path) -> None:
    """Construction only checks names; a broken archive fails when walked."""
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"garbage")
    upper = tmp_path / "BACKUP.TAR.GZ"
    upper.write_bytes(b"garbage")

    source = ReceiptSource([broken, upper], SourceOptions())
    items = list(source)

    assert [type(item) for item in items] == [Unusable, Unusable]
