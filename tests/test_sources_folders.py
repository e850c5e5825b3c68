"""Folders: sorted lazy walking, OS junk, links, filters and vanishing files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from archives import CLIENT_A, CLIENT_B, walk, write_tar, write_zip

from bulk_uploader.errors import UnreadableReceipt
from bulk_uploader.sources import Receipt, ReceiptSource, SourceOptions, Unusable


def _files(root: Path, files: dict[str, bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return root


def test_files_come_out_sorted_with_their_client(tmp_path: Path) -> None:
    """Names sort by code point at each level, depth first; origin is the path."""
    root = _files(
        tmp_path / "in",
        {
            f"{CLIENT_B}/b.json": b"b",
            f"{CLIENT_A}/z.json": b"z",
            f"{CLIENT_A}/sub/a.json": b"a",
            f"{CLIENT_A}/B.json": b"B",
        },
    )

    walked = walk(root)

    assert [(r.origin, r.name, r.client_id, r.size) for r in walked.receipts] == [
        (f"{root}/{CLIENT_A}/B.json", "B.json", CLIENT_A, 1),
        (f"{root}/{CLIENT_A}/sub/a.json", "a.json", CLIENT_A, 1),
        (f"{root}/{CLIENT_A}/z.json", "z.json", CLIENT_A, 1),
        (f"{root}/{CLIENT_B}/b.json", "b.json", CLIENT_B, 1),
    ]
    assert list(walked.contents.values()) == [b"B", b"a", b"z", b"b"]


def test_walking_is_lazy(tmp_path: Path) -> None:
    """A folder is listed only when the walk reaches it, not up front."""
    root = _files(tmp_path / "in", {f"a/{CLIENT_A}/r.json": b"1"})
    (root / "z" / CLIENT_B).mkdir(parents=True)
    items = iter(ReceiptSource([root], SourceOptions(license_id="L")))

    first = next(items)
    (root / "z" / CLIENT_B / "late.json").write_bytes(b"2")
    rest = list(items)

    assert isinstance(first, Receipt)
    assert [item.origin for item in rest] == [f"{root}/z/{CLIENT_B}/late.json"]


def test_os_junk_is_skipped_with_a_reason(tmp_path: Path) -> None:
    """Finder, Explorer, Office and git leftovers never become receipts."""
    root = _files(
        tmp_path / "in",
        {
            f"{CLIENT_A}/.DS_Store": b"x",
            f"{CLIENT_A}/Thumbs.db": b"x",
            f"{CLIENT_A}/desktop.ini": b"x",
            f"{CLIENT_A}/._r.json": b"x",
            f"{CLIENT_A}/~$r.json": b"x",
            f"{CLIENT_A}/r.json": b"x",
            f".git/{CLIENT_A}/HEAD.json": b"x",
            f"__MACOSX/{CLIENT_A}/r.json": b"x",
        },
    )

    walked = walk(root)

    assert [r.name for r in walked.receipts] == ["r.json"]
    assert sorted(item.origin for item in walked.skipped) == sorted(
        [
            f"{root}/{CLIENT_A}/.DS_Store",
            f"{root}/{CLIENT_A}/Thumbs.db",
            f"{root}/{CLIENT_A}/desktop.ini",
            f"{root}/{CLIENT_A}/._r.json",
            f"{root}/{CLIENT_A}/~$r.json",
            f"{root}/.git/",
            f"{root}/__MACOSX/",
        ]
    )


def test_links_and_fifos_are_skipped_not_followed(tmp_path: Path) -> None:
    """Symbolic links (to files or folders) and FIFOs are skipped, never read."""
    root = _files(tmp_path / "in", {f"{CLIENT_A}/r.json": b"x"})
    outside = _files(tmp_path / "outside", {"secret.json": b"s"})
    (root / CLIENT_A / "link.json").symlink_to(outside / "secret.json")
    (root / "linked-folder").symlink_to(outside, target_is_directory=True)
    os.mkfifo(root / CLIENT_A / "pipe.json")

    walked = walk(root)

    assert [r.name for r in walked.receipts] == ["r.json"]
    assert {item.origin: item.reason for item in walked.skipped} == {
        f"{root}/{CLIENT_A}/link.json": "symbolic link (links are not followed)",
        f"{root}/{CLIENT_A}/pipe.json": "not a regular file (device, FIFO, socket)",
        f"{root}/linked-folder": "symbolic link (links are not followed)",
    }


def test_include_and_exclude_match_base_name_or_source_path(tmp_path: Path) -> None:
    """Globs match the name or the path inside the source, archives included."""
    root = _files(
        tmp_path / "in",
        {
            f"{CLIENT_A}/keep.json": b"1",
            f"{CLIENT_A}/drop.xml": b"2",
            f"{CLIENT_A}/old/keep.json": b"3",
        },
    )
    write_zip(root / f"{CLIENT_A}/day.zip", [("a.json", b"4"), ("b.pdf", b"5")])
    write_zip(root / "archive-2019.zip", [(f"{CLIENT_A}/c.json", b"6")])

    walked = walk(
        root, include=("*.json",), exclude=(f"{CLIENT_A}/old/*", "*-2019.zip")
    )

    assert [r.origin for r in walked.receipts] == [
        f"{root}/{CLIENT_A}/day.zip:a.json",
        f"{root}/{CLIENT_A}/keep.json",
    ]
    assert {item.origin: item.reason for item in walked.skipped} == {
        f"{root}/archive-2019.zip": "excluded by --exclude '*-2019.zip'",
        f"{root}/{CLIENT_A}/day.zip:b.pdf": "matches no --include",
        f"{root}/{CLIENT_A}/drop.xml": "matches no --include",
        f"{root}/{CLIENT_A}/old/keep.json": f"excluded by --exclude '{CLIENT_A}/old/*'",
    }


def test_exclude_reaches_into_archives_by_their_path(tmp_path: Path) -> None:
    """A glob over 'archive:member' paths picks members of one archive."""
    root = tmp_path / "in"
    root.mkdir()
    write_tar(
        root / "day.tgz",
        [(f"{CLIENT_A}/a.json", b"1"), (f"{CLIENT_A}/b.json", b"2")],
        mode="w:gz",
    )

    walked = walk(root, exclude=("day.tgz:*/b.json",))

    assert [r.name for r in walked.receipts] == ["a.json"]
    assert [item.origin for item in walked.skipped] == [
        f"{root}/day.tgz:{CLIENT_A}/b.json"
    ]


def test_empty_and_oversized_files_fail_alone(tmp_path: Path) -> None:
    """Zero bytes and more than max_size are Unusable with client and reason."""
    root = _files(
        tmp_path / "in",
        {
            f"{CLIENT_A}/empty.json": b"",
            f"{CLIENT_A}/big.json": b"x" * 6,
            f"{CLIENT_A}/ok.json": b"x" * 5,
        },
    )

    walked = walk(root, max_size=5)

    assert [(u.name, u.reason, u.client_id) for u in walked.unusable] == [
        ("big.json", "6 bytes, over the size limit of 5 bytes", CLIENT_A),
        ("empty.json", "empty file (0 bytes)", CLIENT_A),
    ]
    assert list(walked.contents.values()) == [b"x" * 5]


def test_vanished_and_changed_files_are_unreadable(tmp_path: Path) -> None:
    """A file deleted or rewritten between listing and reading says so."""
    root = _files(
        tmp_path / "in", {f"{CLIENT_A}/a.json": b"12", f"{CLIENT_A}/b.json": b"12"}
    )
    receipts = [
        item
        for item in ReceiptSource([root], SourceOptions(license_id="L"))
        if isinstance(item, Receipt)
    ]
    (root / CLIENT_A / "a.json").unlink()
    (root / CLIENT_A / "b.json").write_bytes(b"123")

    with pytest.raises(UnreadableReceipt, match="vanished"):
        receipts[0].read()
    with pytest.raises(
        UnreadableReceipt, match="changed after it was found: 2 bytes then, 3"
    ):
        receipts[1].read()


def test_same_source_twice_is_walked_once(tmp_path: Path) -> None:
    """Naming a folder twice (even spelled differently) does not double receipts."""
    root = _files(tmp_path / "in", {f"{CLIENT_A}/a.json": b"1"})

    walked = walk(root, str(root) + "/", tmp_path / "in" / ".." / "in")

    assert len(walked.receipts) == 1


def test_a_guid_in_the_folder_given_is_the_client(tmp_path: Path) -> None:
    """The folder named on the command line may itself carry the client id."""
    root = _files(tmp_path / CLIENT_B, {"flat.json": b"1", "deeper/x.json": b"2"})
    (tmp_path / CLIENT_A).mkdir()
    archive = write_zip(tmp_path / CLIENT_A / "day.zip", [("r.json", b"3")])

    walked = walk(root, archive)

    assert [r.client_id for r in walked.receipts] == [CLIENT_B, CLIENT_B, CLIENT_A]


def test_odd_file_names_in_folders(tmp_path: Path) -> None:
    """Control characters make a file unusable and are shown escaped; bytes
    that are not UTF-8 are read as Windows-1252 and never leave as surrogates."""
    root = tmp_path / "in"
    folder = root / CLIENT_A
    folder.mkdir(parents=True)
    (folder / "\x1b[2Jclear.json").write_bytes(b"1")
    (folder / os.fsdecode(b"r-\xfc.json")).write_bytes(b"2")  # not UTF-8

    walked = walk(root)

    assert walked.kinds == ["Unusable", "Receipt"]
    assert walked.unusable[0] == Unusable(
        f"{folder}/\\x1b[2Jclear.json",
        "file name contains control characters",
        "\\x1b[2Jclear.json",
        CLIENT_A,
    )
    (receipt,) = walked.receipts
    assert (receipt.name, receipt.origin) == ("r-ü.json", f"{folder}/r-\\udcfc.json")
    assert walked.contents == {receipt.origin: b"2"}
