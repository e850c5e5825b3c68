"""What ReceiptSource refuses up front, before anything is read or sent."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest
from archives import CLIENT_A, walk, write_tar, write_zip

from bulk_uploader.errors import ConfigError, UnreadableReceipt
from bulk_uploader.sources import Receipt, ReceiptSource, SourceOptions, Unusable


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


@pytest.mark.timeout(10)
def test_a_fifo_on_the_command_line_is_refused_unopened(tmp_path: Path) -> None:
    """Opening a FIFO waits for a writer forever: it is refused by its type."""
    fifo = tmp_path / "cmd.zip"
    os.mkfifo(fifo)

    with pytest.raises(ConfigError) as raised:
        ReceiptSource([fifo], SourceOptions())

    assert str(raised.value) == (
        f"{fifo} is a FIFO (named pipe), not a folder or an archive file"
    )


@pytest.mark.timeout(10)
def test_devices_and_sockets_on_the_command_line_are_refused() -> None:
    """Only folders and regular files are sources, whatever they are named."""
    with pytest.raises(ConfigError, match="is a character device, not a folder"):
        ReceiptSource(["/dev/null"], SourceOptions())


@pytest.mark.timeout(10)
def test_a_socket_on_the_command_line_is_refused(tmp_path: Path) -> None:
    """A Unix socket named like an archive is refused by its type."""
    path = tmp_path / "s.tar"
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(path))

        with pytest.raises(ConfigError, match=r"s\.tar is a socket, not a folder"):
            ReceiptSource([path], SourceOptions())


@pytest.mark.timeout(10)
@pytest.mark.parametrize("name", ["day.zip", "day.tar.gz"])
def test_an_archive_swapped_for_a_fifo_is_not_opened(tmp_path: Path, name: str) -> None:
    """What stands at the path when it is opened counts, not what stood there
    when the run started: a FIFO there fails alone, without waiting."""
    archive = tmp_path / name
    if name.endswith(".zip"):
        write_zip(archive, [(f"{CLIENT_A}/r.json", b"{}")])
    else:
        write_tar(archive, [(f"{CLIENT_A}/r.json", b"{}")], mode="w:gz")
    source = ReceiptSource([archive], SourceOptions(license_id="L"))
    archive.unlink()
    os.mkfifo(archive)

    items = list(source)

    assert items == [
        Unusable(
            str(archive),
            f"unreadable {'zip' if name.endswith('.zip') else 'tar'} archive: "
            "cannot open: a FIFO (named pipe), not a regular file",
        )
    ]


@pytest.mark.timeout(10)
def test_a_receipt_swapped_for_a_fifo_is_unreadable(tmp_path: Path) -> None:
    """A receipt file replaced by a FIFO after it was listed is not waited on."""
    receipt = tmp_path / CLIENT_A / "r.json"
    receipt.parent.mkdir()
    receipt.write_bytes(b"{}")
    (found,) = ReceiptSource([tmp_path], SourceOptions(license_id="L"))
    receipt.unlink()
    os.mkfifo(receipt)

    assert isinstance(found, Receipt)
    with pytest.raises(UnreadableReceipt) as raised:
        found.read()

    assert str(raised.value) == "cannot read: a FIFO (named pipe), not a regular file"


@pytest.mark.timeout(10)
def test_a_fifo_named_like_an_archive_in_a_folder_is_skipped(tmp_path: Path) -> None:
    """Archives found in folders are opened only when they are regular files."""
    os.mkfifo(tmp_path / "x.zip")
    os.mkfifo(tmp_path / "y.tar")

    walked = walk(tmp_path)

    assert [(item.origin, item.reason) for item in walked.skipped] == [
        (f"{tmp_path}/x.zip", "not a regular file (device, FIFO, socket)"),
        (f"{tmp_path}/y.tar", "not a regular file (device, FIFO, socket)"),
    ]
    assert walked.kinds == ["Skipped", "Skipped"]
