"""Zip archives: members, names, client folders and every kind of damage."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from archives import (
    CLIENT_A,
    CLIENT_B,
    flip_byte,
    patch_bytes,
    set_zip_flag,
    set_zip_method,
    set_zip_size,
    truncate,
    walk,
    write_zip,
    zip_data_offset,
    zip_special,
    zip_symlink,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulk_uploader.errors import UnreadableReceipt
from bulk_uploader.sources import (
    Receipt,
    ReceiptSource,
    Skipped,
    SourceOptions,
    Unusable,
)


@pytest.mark.parametrize(
    "compression",
    [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA],
    ids=["stored", "deflate", "bzip2", "lzma"],
)
def test_members_come_out_as_receipts(tmp_path: Path, compression: int) -> None:
    """Every compression is read back byte for byte, with name, size and client."""
    big = bytes(range(256)) * 400
    deep = f"export/{{{CLIENT_B.upper()}}}/sub/r-2.bin"
    archive = write_zip(
        tmp_path / "day.zip",
        [(f"{CLIENT_A}/r-1.json", b'{"n": 1}'), (deep, big)],
        compression=compression,
    )

    walked = walk(archive)

    assert [
        (r.client_id, r.license_id, r.name, r.size, r.origin) for r in walked.items
    ] == [
        (CLIENT_A, "LIC", "r-1.json", 8, f"{archive}:{CLIENT_A}/r-1.json"),
        (CLIENT_B, "LIC", "r-2.bin", len(big), f"{archive}:{deep}"),
    ]
    assert list(walked.contents.values()) == [b'{"n": 1}', big]


def test_directories_links_and_junk_are_not_receipts(tmp_path: Path) -> None:
    """Folder entries vanish; links and OS junk are skipped with a reason."""
    archive = write_zip(
        tmp_path / "a.zip",
        [
            zipfile.ZipInfo(f"{CLIENT_A}/"),
            (f"{CLIENT_A}/r.json", b"{}"),
            zip_symlink(f"{CLIENT_A}/link.json", "r.json"),
            zip_special(f"{CLIENT_A}/fifo.json", 0o010644),
            (f"__MACOSX/{CLIENT_A}/._r.json", b"fork"),
            (f"{CLIENT_A}/.DS_Store", b"x"),
            (f"{CLIENT_A}/Thumbs.db", b"x"),
            (f"{CLIENT_A}/~$report.json", b"x"),
            (f".git/{CLIENT_A}/config.json", b"x"),
            (f"{CLIENT_A}/._r.json", b"fork"),
        ],
    )

    walked = walk(archive)

    assert walked.kinds == ["Receipt"] + ["Skipped"] * 8
    assert [item.reason for item in walked.skipped] == [
        "symbolic link",
        "not a regular file (device, FIFO, socket)",
        "macOS resource forks (__MACOSX folder)",
        "macOS folder settings (.DS_Store)",
        "Windows thumbnail cache (Thumbs.db)",
        "Office lock file (~$)",
        "version control folder (.git)",
        "macOS resource fork (AppleDouble ._ file)",
    ]


def test_bad_crc_fails_only_that_member(tmp_path: Path) -> None:
    """A flipped byte makes read() fail with a CRC reason; the others read fine."""
    bad, good = f"{CLIENT_A}/bad.json", f"{CLIENT_A}/good.json"
    archive = write_zip(
        tmp_path / "a.zip",
        [(bad, b"0123456789"), (good, b"ok")],
        compression=zipfile.ZIP_STORED,
    )
    flip_byte(archive, zip_data_offset(archive, bad) + 3)

    walked = walk(archive)

    assert walked.kinds == ["Receipt", "Receipt"]
    assert walked.unreadable == {
        f"{archive}:{bad}": "bad CRC-32: the member's bytes are corrupt"
    }
    assert walked.contents == {f"{archive}:{good}": b"ok"}


def test_corrupt_deflate_stream_is_unreadable(tmp_path: Path) -> None:
    """Garbage in compressed data is reported as corrupt, not raised raw."""
    archive = write_zip(tmp_path / "a.zip", [(f"{CLIENT_A}/r.json", b"a" * 5000)])
    offset = zip_data_offset(archive, f"{CLIENT_A}/r.json")
    for at in range(offset, offset + 8):
        flip_byte(archive, at)

    walked = walk(archive)

    (reason,) = walked.unreadable.values()
    assert "corrupt" in reason


def test_member_bigger_than_its_directory_entry_says(tmp_path: Path) -> None:
    """A directory that understates a size cannot smuggle extra bytes through."""
    archive = write_zip(
        tmp_path / "a.zip",
        [(f"{CLIENT_A}/r.json", b"x" * 100)],
        compression=zipfile.ZIP_STORED,
    )
    set_zip_size(archive, f"{CLIENT_A}/r.json", 10)

    walked = walk(archive)

    assert [r.size for r in walked.receipts] == [10]
    (reason,) = walked.unreadable.values()
    assert "100 bytes unpacked where the archive says 10" in reason


def test_implausible_compressed_size_is_not_read(tmp_path: Path) -> None:
    """A directory claiming huge compressed data for a tiny member is refused."""
    archive = write_zip(tmp_path / "a.zip", [(f"{CLIENT_A}/r.json", b"{}")])
    set_zip_size(archive, f"{CLIENT_A}/r.json", 1 << 30, compressed=True)

    walked = walk(archive)

    (reason,) = walked.unreadable.values()
    assert "1073741824 compressed bytes for 2 bytes" in reason


def test_member_without_its_local_header_is_unreadable(tmp_path: Path) -> None:
    """A directory pointing at garbage fails that member with a reason."""
    archive = write_zip(
        tmp_path / "a.zip", [(f"{CLIENT_A}/a.json", b"1"), (f"{CLIENT_A}/b.json", b"2")]
    )
    flip_byte(archive, 0)  # the first local header's signature

    walked = walk(archive)

    assert list(walked.unreadable.values()) == [
        "the archive is damaged: no local header where the directory points "
        "for this member"
    ]
    assert list(walked.contents.values()) == [b"2"]


def test_encrypted_unsupported_empty_and_oversized_members(tmp_path: Path) -> None:
    """Each of these fails its own member, with its client, and nothing else."""
    archive = write_zip(
        tmp_path / "a.zip",
        [
            (f"{CLIENT_A}/secret.json", b"{}"),
            (f"{CLIENT_A}/deflate64.json", b"{}"),
            (f"{CLIENT_A}/empty.json", b""),
            (f"{CLIENT_A}/huge.json", b"x" * 101),
            (f"{CLIENT_A}/fine.json", b"x" * 100),
        ],
    )
    set_zip_flag(archive, f"{CLIENT_A}/secret.json", 0x1)
    set_zip_method(archive, f"{CLIENT_A}/deflate64.json", 9)

    walked = walk(archive, max_size=100)

    assert {u.name: (u.reason, u.client_id) for u in walked.unusable} == {
        "secret.json": ("encrypted (password-protected) member", CLIENT_A),
        "deflate64.json": (
            "compression method 9 (Deflate64) is not supported",
            CLIENT_A,
        ),
        "empty.json": ("empty file (0 bytes)", CLIENT_A),
        "huge.json": ("101 bytes, over the size limit of 100 bytes", CLIENT_A),
    }
    assert list(walked.contents.values()) == [b"x" * 100]


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda path: truncate(path, -10), "truncated"),
        (lambda path: truncate(path, 0), "empty file"),
        (lambda path: path.write_bytes(b"not a zip at all" * 10), "not a zip"),
    ],
    ids=["truncated", "empty", "not-a-zip"],
)
def test_unreadable_archive_is_one_unusable_and_the_run_goes_on(
    tmp_path: Path, damage: Callable[[Path], None], reason: str
) -> None:
    """A damaged archive yields exactly one Unusable; the next source still works."""
    broken = write_zip(tmp_path / "broken.zip", [(f"{CLIENT_A}/r.json", b"{}")])
    damage(broken)
    fine = write_zip(tmp_path / "fine.zip", [(f"{CLIENT_B}/r.json", b"{}")])

    walked = walk(broken, fine)

    assert walked.kinds == ["Unusable", "Receipt"]
    (unusable,) = walked.unusable
    assert unusable.origin == str(broken)
    assert reason in unusable.reason
    assert [r.client_id for r in walked.receipts] == [CLIENT_B]


def test_corrupt_central_directory_keeps_the_entries_before_it(tmp_path: Path) -> None:
    """Entries before a broken directory record come out, then one Unusable."""
    archive = write_zip(
        tmp_path / "a.zip",
        [(f"{CLIENT_A}/{n}.json", b"{}") for n in range(3)],
    )
    data = archive.read_bytes()
    second = data.index(b"PK\x01\x02", data.index(b"PK\x01\x02") + 4)
    flip_byte(archive, second)

    walked = walk(archive)

    assert walked.kinds == ["Receipt", "Unusable"]
    assert "corrupt central directory at entry 2" in walked.unusable[0].reason


def test_odd_member_names_stay_sane_text(tmp_path: Path) -> None:
    """Dot-dot, absolute, backslash, cp437 and unflagged UTF-8 names are handled."""
    archive = write_zip(
        tmp_path / "a.zip",
        [
            (f"../../{CLIENT_A}/escape.json", b"1"),
            (f"/{CLIENT_A}/absolute.json", b"2"),
            (f"win\\{CLIENT_B}\\back.json", b"3"),
            (f"{CLIENT_A}/r-XX.json", b"4"),
            (f"{CLIENT_A}/r-YYY.json", b"5"),
        ],
    )
    # Raw names as DOS tools (cp437) and unflagged UTF-8 writers store them.
    patch_bytes(archive, b"r-XX.json", b"r-\x84\x94.json")
    patch_bytes(archive, b"r-YYY.json", b"r-\xc3\xa4Y.json")

    walked = walk(archive)

    assert [(r.name, r.client_id) for r in walked.receipts] == [
        ("escape.json", CLIENT_A),
        ("absolute.json", CLIENT_A),
        ("back.json", CLIENT_B),
        ("r-äö.json", CLIENT_A),
        ("r-äY.json", CLIENT_A),
    ]
    assert list(walked.contents.values()) == [b"1", b"2", b"3", b"4", b"5"]
    assert not (tmp_path.parent / CLIENT_A).exists()


def test_archives_inside_archives_are_reported_not_sent(tmp_path: Path) -> None:
    """A nested archive is Unusable with advice; it is never uploaded as a file."""
    inner = write_zip(tmp_path / "inner.zip", [(f"{CLIENT_A}/r.json", b"{}")])
    archive = write_zip(
        tmp_path / "outer.zip",
        [(f"{CLIENT_A}/inner.zip", inner.read_bytes()), (f"{CLIENT_A}/x.tgz", b"1")],
    )

    walked = walk(archive)

    assert walked.kinds == ["Unusable", "Unusable"]
    for item in walked.unusable:
        assert "archive inside an archive" in item.reason
        assert item.client_id == CLIENT_A


def test_read_after_the_source_moved_on_says_so(tmp_path: Path) -> None:
    """Bytes must be read before advancing; a late read() explains the rule."""
    archive = write_zip(tmp_path / "a.zip", [(f"{CLIENT_A}/r.json", b"{}")])

    (receipt,) = list(ReceiptSource([archive], SourceOptions(license_id="L")))

    assert isinstance(receipt, Receipt)
    with pytest.raises(UnreadableReceipt, match="already closed"):
        receipt.read()


def test_zip64_with_many_entries(tmp_path: Path) -> None:
    """More than 65,535 entries (a Zip64 directory) are all found, in order."""
    count = 70_000
    archive = tmp_path / "many.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as writer:
        for number in range(count):
            writer.writestr(f"{CLIENT_A}/{number}.json", b"{}")

    walked = walk(archive)

    assert len(walked.contents) == count
    assert set(walked.contents.values()) == {b"{}"}
    assert walked.receipts[-1].name == f"{count - 1}.json"


def test_data_before_the_archive_is_tolerated(tmp_path: Path) -> None:
    """A self-extractor stub before the zip does not shift member offsets."""
    archive = write_zip(tmp_path / "a.zip", [(f"{CLIENT_A}/r.json", b"{}")])
    archive.write_bytes(b"MZ" + b"\0" * 1000 + archive.read_bytes())

    assert list(walk(archive).contents.values()) == [b"{}"]


def test_archive_named_by_a_guid_gives_its_client(tmp_path: Path) -> None:
    """A GUID as the archive's own name is the client for members without one."""
    archive = write_zip(
        tmp_path / f"{CLIENT_A}.zip",
        [("flat.json", b"{}"), (f"{CLIENT_B}/deep.json", b"{}")],
    )

    walked = walk(archive)

    assert [(r.name, r.client_id) for r in walked.receipts] == [
        ("flat.json", CLIENT_A),
        ("deep.json", CLIENT_B),
    ]


def test_zip64_extra_claiming_more_than_it_holds(tmp_path: Path) -> None:
    """A Zip64 field longer than its extra block fails that archive, not the run."""
    info = zipfile.ZipInfo(f"{CLIENT_A}/big.json")
    info.extra = struct.pack("<2H", 0x9999, 64) + b"\0" * 8  # 64 claimed, 8 held
    archive = write_zip(tmp_path / "a.zip", [(info, b"{}"), (f"{CLIENT_A}/r", b"1")])
    patch_bytes(archive, struct.pack("<2H", 0x9999, 64), struct.pack("<2H", 1, 64))
    set_zip_size(archive, f"{CLIENT_A}/big.json", 0xFFFFFFFF)
    fine = write_zip(tmp_path / "fine.zip", [(f"{CLIENT_B}/r.json", b"2")])

    walked = walk(archive, fine)

    assert walked.kinds == ["Unusable", "Receipt"]
    assert walked.unusable[0] == Unusable(
        str(archive), "damaged zip archive: corrupt Zip64 sizes at entry 1"
    )


def test_directory_pointing_past_the_end_is_unreadable(tmp_path: Path) -> None:
    """A Zip64 offset near 2**64 makes that member unreadable; it cannot crash."""
    info = zipfile.ZipInfo(f"{CLIENT_A}/far.json")
    info.extra = struct.pack("<2HQ", 0x9999, 8, 2**64 - 2)
    archive = write_zip(tmp_path / "a.zip", [(info, b"{}")])
    patch_bytes(archive, struct.pack("<2H", 0x9999, 8), struct.pack("<2H", 1, 8))
    data = bytearray(archive.read_bytes())
    central = data.rfind(b"PK\x01\x02")
    struct.pack_into("<L", data, central + 42, 0xFFFFFFFF)  # the local header offset
    archive.write_bytes(bytes(data))

    walked = walk(archive)

    assert walked.kinds == ["Receipt"]
    assert list(walked.unreadable.values()) == [
        "the archive is damaged: its directory places this member beyond the "
        "end of the file"
    ]


def test_lzma_member_claiming_a_huge_window_still_reads(tmp_path: Path) -> None:
    """The LZMA window is capped at the member's size: a claimed 4 GiB window
    does not end the run with MemoryError where address space is limited."""
    content = b"receipt " * 500
    archive = write_zip(
        tmp_path / "a.zip", [(f"{CLIENT_A}/r.json", content)], compression=14
    )
    data = bytearray(archive.read_bytes())
    at = zip_data_offset(archive, f"{CLIENT_A}/r.json")
    struct.pack_into("<L", data, at + 5, 0xFFFFFFFF)  # the dictionary size
    archive.write_bytes(bytes(data))
    script = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (1 << 31, 1 << 31))\n"
        "from archives import walk\n"
        "walked = walk(sys.argv[1])\n"
        "print(list(walked.contents.values()) == [b'receipt ' * 500])\n"
    )
    paths = [str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]

    done = subprocess.run(
        [sys.executable, "-c", script, str(archive)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(paths)},
        cwd=tmp_path,
        check=False,
    )

    assert (done.returncode, done.stdout, done.stderr) == (0, "True\n", "")


def _sample_zip() -> bytes:
    """A small zip holding each compression and a Zip64 directory entry."""
    buffer = io.BytesIO()
    content = b'{"n": 1}'
    zip64 = zipfile.ZipInfo(f"{CLIENT_B}/z64.json")
    zip64.extra = struct.pack("<2HQ", 1, 8, len(content))
    with zipfile.ZipFile(buffer, "w") as writer:
        for number, method in enumerate((0, 8, 12, 14)):
            writer.writestr(
                f"{CLIENT_A}/r-{number}.json", b"{}" * 40, compress_type=method
            )
        writer.writestr(zip64, content)
    data = bytearray(buffer.getvalue())
    # Its size now lives only in the Zip64 extra field, as for a 4 GiB member.
    central = data.rfind(b"PK\x01\x02")
    struct.pack_into("<L", data, central + 24, 0xFFFFFFFF)
    return bytes(data)


def _steering_fields(data: bytes) -> list[int]:
    """Where the lengths, sizes and offsets that steer a zip reader lie."""
    end = data.rfind(b"PK\x05\x06")
    fields = [end + 10, end + 12, end + 16, end + 20]
    at = data.find(b"PK\x03\x04")
    while at >= 0:
        fields += [at + 8, at + 26, at + 28]  # method, name and extra lengths
        at = data.find(b"PK\x03\x04", at + 4)
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        (name_length,) = struct.unpack_from("<H", data, at + 28)
        extra = at + 46 + name_length
        # method, sizes, the three lengths, the offset, the first extra field
        fields += [at + n for n in (10, 20, 24, 28, 30, 32, 42)] + [extra, extra + 2]
        at = data.find(b"PK\x01\x02", at + 4)
    return fields


_SAMPLE = _sample_zip()
_FIELDS = _steering_fields(_SAMPLE)


_ODD_VALUES = [b"\xff\xff\xff\xff", b"\xff\xff", b"\x40", b"\0\0", b"\x01\0", b"\x0e"]


def test_each_steering_field_set_to_odd_values_never_crashes(tmp_path: Path) -> None:
    """Every length, size, offset and method field of the sample, set in turn
    to each odd value, gives items or UnreadableReceipt, never a crash."""
    archive = tmp_path / "edited.zip"
    for at in _FIELDS:
        for value in _ODD_VALUES:
            edited = bytearray(_SAMPLE)
            edited[at : at + len(value)] = value
            archive.write_bytes(bytes(edited))

            walked = walk(archive)

            assert all(
                isinstance(item, Receipt | Unusable | Skipped) for item in walked.items
            )


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    edits=st.lists(
        st.tuples(
            st.sampled_from(_FIELDS) | st.integers(0, len(_SAMPLE) - 1),
            st.sampled_from([b"\xff\xff\xff\xff", b"\0\0", b"\x01\x00", b"\x40"])
            | st.binary(min_size=1, max_size=8),
        ),
        min_size=1,
        max_size=6,
    ),
    keep=st.none() | st.integers(0, len(_SAMPLE)),
)
def test_mutated_zips_never_crash_the_walk(
    tmp_path: Path, edits: list[tuple[int, bytes]], keep: int | None
) -> None:
    """Whatever bytes a zip holds, walking and reading it gives only Receipt,
    Unusable and Skipped, or UnreadableReceipt from read(): never a crash."""
    mutated = bytearray(_SAMPLE)
    for at, patch in edits:
        mutated[at : at + len(patch)] = patch
    archive = tmp_path / "mutated.zip"
    archive.write_bytes(bytes(mutated[:keep]))

    walked = walk(archive)

    assert all(isinstance(item, Receipt | Unusable | Skipped) for item in walked.items)


def test_control_characters_in_names_are_unusable_and_shown_escaped(
    tmp_path: Path,
) -> None:
    """NUL, escape sequences and bells in a name are never sent, and never
    reach a terminal raw: origin and name show them as escapes."""
    archive = write_zip(
        tmp_path / "a.zip",
        [
            (f"{CLIENT_A}/aXb.json", b"1"),
            (f"{CLIENT_A}/\x1b[31mred\x07.json", b"2"),
            (f"{CLIENT_A}/ok.json", b"3"),
        ],
    )
    patch_bytes(archive, b"aXb.json", b"a\x00b.json")

    walked = walk(archive)

    assert walked.kinds == ["Unusable", "Unusable", "Receipt"]
    assert walked.unusable == [
        Unusable(
            f"{archive}:{CLIENT_A}/a\\x00b.json",
            "file name contains control characters",
            "a\\x00b.json",
            CLIENT_A,
        ),
        Unusable(
            f"{archive}:{CLIENT_A}/\\x1b[31mred\\x07.json",
            "file name contains control characters",
            "\\x1b[31mred\\x07.json",
            CLIENT_A,
        ),
    ]


def test_names_longer_than_255_bytes_are_unusable(tmp_path: Path) -> None:
    """255 bytes of UTF-8 is the most a name may have; one more is refused."""
    fits = "ä" * 125 + ".json"  # 250 + 5 bytes
    too_long = "ä" * 126 + ".json"  # 252 + 5 bytes, only 131 characters
    archive = write_zip(
        tmp_path / "a.zip",
        [(f"{CLIENT_A}/{fits}", b"1"), (f"{CLIENT_A}/{too_long}", b"2")],
    )

    walked = walk(archive)

    assert [r.name for r in walked.receipts] == [fits]
    assert walked.unusable == [
        Unusable(
            f"{archive}:{CLIENT_A}/{too_long}",
            "file name longer than 255 bytes",
            too_long,
            CLIENT_A,
        )
    ]
