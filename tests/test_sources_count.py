"""count_cheaply: the progress bar's total, from listings and zip directories."""

from __future__ import annotations

import os
import struct
import threading
import tracemalloc
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from archives import (
    CLIENT_A,
    CLIENT_B,
    TAR_MODES,
    set_zip_size,
    truncate,
    write_tar,
    write_zip,
    zip_special,
    zip_symlink,
)

from bulk_uploader.sources import Receipt, ReceiptSource, SourceItem, SourceOptions

_CENTRAL = struct.Struct("<4s6H3L5H2L")
_EOCD = struct.Struct("<4s4H2LH")


def _files(root: Path, files: dict[str, bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return root


def _source(*paths: str | os.PathLike[str], **options: Any) -> ReceiptSource:
    options.setdefault("license_id", "LIC")
    return ReceiptSource(list(paths), SourceOptions(**options))


def _count_and_walk(
    *paths: str | os.PathLike[str], **options: Any
) -> tuple[int | None, list[SourceItem]]:
    source = _source(*paths, **options)
    return source.count_cheaply(), list(source)


def _kinds(items: list[SourceItem]) -> Counter[str]:
    return Counter(type(item).__name__ for item in items)


def _read(item: SourceItem) -> bytes:
    assert isinstance(item, Receipt)
    return item.read()


def _dir_entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = 0o40755 << 16 | 0x10
    return info


def _directory_only_zip(path: Path, entries: int) -> Path:
    """A zip of ``entries`` empty stored files, written as a central directory
    alone (counting never looks at local headers), without zipfile's memory."""
    with path.open("wb") as stream:
        chunk: list[bytes] = []
        for number in range(entries):
            name = b"r/%07d.json" % number
            # A stored, empty Unix-less entry: every field zero but the
            # version numbers and the name length.
            fields = (20, 20, 0, 0, 0, 0, 0, 0, 0, len(name), 0, 0, 0, 0, 0, 0)
            chunk.append(_CENTRAL.pack(b"PK\x01\x02", *fields) + name)
            if len(chunk) == 10_000:
                stream.write(b"".join(chunk))
                chunk.clear()
        stream.write(b"".join(chunk))
        size = stream.tell()
        stream.write(_EOCD.pack(b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, size, 0, 0))
    return path


def test_folder_with_junk_and_filters_counts_every_yielded_item(
    tmp_path: Path,
) -> None:
    """Junk files, junk folders and filtered files are counted as the Skipped
    items they yield; nothing inside a junk folder is counted."""
    root = _files(
        tmp_path / "in",
        {
            f"{CLIENT_A}/a.json": b"a",
            f"{CLIENT_A}/b.xml": b"b",
            f"{CLIENT_A}/.DS_Store": b"x",
            f"{CLIENT_A}/._a.json": b"x",
            f"{CLIENT_A}/Thumbs.db": b"x",
            f"{CLIENT_A}/deep/er/c.json": b"c",
            f"{CLIENT_A}/deep/old-1.json": b"o",
            f"{CLIENT_A}/empty.json": b"",
            f"{CLIENT_B}/d.json": b"d",
            f"__MACOSX/{CLIENT_A}/._a.json": b"x",
            f"__MACOSX/{CLIENT_A}/more/e.json": b"x",
            f".git/{CLIENT_A}/HEAD.json": b"x",
        },
    )
    (root / "empty-folder").mkdir()
    (root / "link.json").symlink_to(root / CLIENT_A / "a.json")
    (root / "folder-link").symlink_to(root / CLIENT_B)

    count, items = _count_and_walk(root, include=("*.json",), exclude=("old-*",))

    assert _kinds(items) == {"Receipt": 3, "Skipped": 9, "Unusable": 1}
    assert count == len(items) == 13


def test_zip_directory_entries_are_neither_yielded_nor_counted(
    tmp_path: Path,
) -> None:
    """A zip counts one item per entry that is not a directory: receipts,
    junk, links, special files and filtered members."""
    archive = write_zip(
        tmp_path / f"{CLIENT_A}.zip",
        [
            _dir_entry("pos-1/"),
            _dir_entry("pos-1/sub/"),
            _dir_entry("__MACOSX/"),
            ("pos-1/r1.json", b"1"),
            ("pos-1/sub/r2.json", b"2"),
            ("pos-1/r3.txt", b"3"),
            ("pos-1/.DS_Store", b"x"),
            ("__MACOSX/pos-1/._r1.json", b"x"),
            zip_symlink("pos-1/link.json", "r1.json"),
            zip_special("pos-1/fifo", 0o010644),
            ("pos-1/inner.zip", b"PK"),
        ],
    )

    count, items = _count_and_walk(archive, exclude=("*.txt",))

    assert _kinds(items) == {"Receipt": 2, "Skipped": 5, "Unusable": 1}
    assert count == len(items) == 8


def test_mix_of_folders_and_zips_counts_each_source(tmp_path: Path) -> None:
    """Several sources, folders and zips, add up to what they yield together."""
    first = _files(tmp_path / "one", {f"{CLIENT_A}/a.json": b"a", ".DS_Store": b"x"})
    second = _files(tmp_path / "two", {f"{CLIENT_B}/b.json": b"b"})
    archive = write_zip(
        tmp_path / f"{CLIENT_B}.zip",
        [_dir_entry("x/"), ("x/c.json", b"c"), ("x/d.json", b"d")],
    )

    count, items = _count_and_walk(first, archive, second)

    assert _kinds(items) == {"Receipt": 4, "Skipped": 1}
    assert count == len(items) == 5


def test_zips_inside_a_folder_are_counted_by_their_entries(tmp_path: Path) -> None:
    """A zip in a folder counts its entries; an excluded or junk-named zip
    counts as its one Skipped, an unreadable one as its one Unusable, a
    truncated directory as the entries read plus one."""
    root = _files(tmp_path / "in", {f"{CLIENT_A}/a.json": b"a"})
    folder = root / CLIENT_A
    write_zip(
        folder / "day-1.zip",
        [_dir_entry("p/"), ("p/b.json", b"b"), ("p/c.json", b"c")],
    )
    (folder / "sub").mkdir()
    write_zip(folder / "sub" / "day-2.zip", [("d.json", b"d")])
    write_zip(folder / "skip-me.zip", [("e.json", b"e"), ("f.json", b"f")])
    write_zip(folder / "._day-1.zip", [("g.json", b"g")])
    (folder / "broken.zip").write_bytes(b"not a zip at all")
    cut = write_zip(folder / "cut.zip", [(f"h{n}.json", b"h") for n in range(5)])
    truncate(cut, -30)  # the end record is gone: the zip cannot be opened

    count, items = _count_and_walk(root, exclude=("skip-*",))

    assert _kinds(items) == {"Receipt": 4, "Skipped": 2, "Unusable": 2}
    assert count == len(items) == 8


@pytest.mark.parametrize("damage", ["signature", "zip64"])
def test_zip_damaged_part_way_counts_up_to_the_damage(
    tmp_path: Path, damage: str
) -> None:
    """A central directory corrupt at its third entry (a broken signature, or
    a Zip64 size with no Zip64 field) counts the two entries before it and
    the one Unusable the walk reports."""
    archive = write_zip(
        tmp_path / f"{CLIENT_A}.zip", [(f"r{n}.json", b"r") for n in range(5)]
    )
    if damage == "zip64":
        set_zip_size(archive, "r2.json", 0xFFFFFFFF)
    else:
        data = bytearray(archive.read_bytes())
        third = -1
        for _ in range(3):
            third = data.find(b"PK\x01\x02", third + 1)
        data[third : third + 4] = b"XXXX"
        archive.write_bytes(bytes(data))

    count, items = _count_and_walk(archive)

    assert _kinds(items) == {"Receipt": 2, "Unusable": 1}
    assert count == len(items) == 3


@pytest.mark.parametrize("suffix", sorted(TAR_MODES))
def test_a_tar_among_the_sources_makes_the_count_unknown(
    tmp_path: Path, suffix: str
) -> None:
    """Any tar, named as a source or lying in a folder, gives None."""
    tar = write_tar(
        tmp_path / f"{CLIENT_A}{suffix}", [("r.json", b"r")], mode=TAR_MODES[suffix]
    )
    root = _files(tmp_path / "in", {f"{CLIENT_B}/b.json": b"b"})
    write_tar(root / f"day{suffix}", [("r.json", b"r")], mode=TAR_MODES[suffix])
    plain = _files(tmp_path / "plain", {f"{CLIENT_B}/b.json": b"b"})

    assert _source(plain, tar).count_cheaply() is None
    assert _source(root).count_cheaply() is None
    assert _source(plain).count_cheaply() == 1


def test_a_tar_the_walk_does_not_open_is_counted(tmp_path: Path) -> None:
    """An excluded or junk-named tar in a folder yields one Skipped and is
    counted as such, not made a reason to give up."""
    root = _files(tmp_path / "in", {f"{CLIENT_A}/a.json": b"a"})
    write_tar(root / "old.tar.gz", [("r.json", b"r")], mode="w:gz")
    write_tar(root / "._new.tgz", [("r.json", b"r")], mode="w:gz")

    count, items = _count_and_walk(root, exclude=("old.*",))

    assert _kinds(items) == {"Receipt": 1, "Skipped": 2}
    assert count == len(items) == 3


def test_entries_named_like_zips_that_are_not_files(tmp_path: Path) -> None:
    """A folder named like a zip is walked into and a FIFO named like one is
    skipped unopened: counting follows both, without raising or waiting."""
    root = _files(tmp_path / "in", {f"{CLIENT_A}/a.json": b"a"})
    _files(
        root / "looks.zip", {f"{CLIENT_B}/b.json": b"b"}
    )  # a folder named like a zip
    os.mkfifo(root / "pipe.zip")

    count, items = _count_and_walk(root)

    assert _kinds(items) == {"Receipt": 2, "Skipped": 1}
    assert count == len(items) == 3


def test_counting_while_iterating_the_same_source(tmp_path: Path) -> None:
    """A count in another thread, while the source is being iterated and its
    receipts read, is right and leaves the iteration untouched."""
    archive = write_zip(
        tmp_path / f"{CLIENT_A}.zip", [(f"r{n}.json", b"%d" % n) for n in range(3000)]
    )
    root = _files(
        tmp_path / "in", {f"{CLIENT_B}/{n:04}.json": b"f" for n in range(300)}
    )
    source = _source(archive, root)
    counts: list[int | None] = []
    items = iter(source)
    contents = [_read(next(items))]
    counter = threading.Thread(target=lambda: counts.append(source.count_cheaply()))

    counter.start()
    contents.extend(_read(item) for item in items)
    counter.join()

    assert counts == [3300]
    assert contents[:3] == [b"0", b"1", b"2"]
    assert len(contents) == 3300
    assert source.count_cheaply() == len(list(source)) == 3300


def test_a_million_entry_zip_is_counted_in_little_memory(tmp_path: Path) -> None:
    """The central directory of a zip with 1,000,000 entries is streamed:
    counting it allocates well under a megabyte at peak."""
    archive = _directory_only_zip(tmp_path / f"{CLIENT_A}.zip", 1_000_000)
    source = _source(archive)

    tracemalloc.start()
    try:
        count = source.count_cheaply()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert count == 1_000_000
    assert peak < 512 * 1024
