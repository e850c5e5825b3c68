"""Tar archives in every compression: members, links, odd names and damage."""

from __future__ import annotations

import gc
import random
import tarfile
from pathlib import Path

import pytest
from archives import (
    CLIENT_A,
    CLIENT_B,
    TAR_MODES,
    compress,
    tar_bytes,
    tar_entry,
    truncate,
    walk,
    write_tar,
    write_zip,
)

from bulk_uploader.sources import Receipt, ReceiptSource, SourceOptions, Unusable


@pytest.mark.parametrize(("suffix", "mode"), TAR_MODES.items())
def test_members_come_out_as_receipts(tmp_path: Path, suffix: str, mode: str) -> None:
    """Each compression gives its members with name, size, client and bytes."""
    big = bytes(range(256)) * 300
    archive = write_tar(
        tmp_path / f"day{suffix}",
        [(f"{CLIENT_A}/r-1.json", b'{"n": 1}'), (f"x/{CLIENT_B}/r-2.pdf", big)],
        mode=mode,
    )

    walked = walk(archive)

    assert [
        (r.client_id, r.license_id, r.name, r.size, r.origin) for r in walked.receipts
    ] == [
        (CLIENT_A, "LIC", "r-1.json", 8, f"{archive}:{CLIENT_A}/r-1.json"),
        (CLIENT_B, "LIC", "r-2.pdf", len(big), f"{archive}:x/{CLIENT_B}/r-2.pdf"),
    ]
    assert list(walked.contents.values()) == [b'{"n": 1}', big]


def test_tar_bytes_stay_readable_after_the_walk_moves_on(tmp_path: Path) -> None:
    """Tar members are read while walking, so read() works even later."""
    archive = write_tar(tmp_path / "a.tar", [(f"{CLIENT_A}/r.json", b"{}")])

    items = list(ReceiptSource([archive], SourceOptions(license_id="L")))

    assert isinstance(items[0], Receipt)
    assert items[0].read() == b"{}"


def test_directories_links_and_devices_are_never_receipts(tmp_path: Path) -> None:
    """Folders vanish; symlinks, hard links, devices and FIFOs are skipped."""
    archive = write_tar(
        tmp_path / "a.tar.gz",
        [
            tar_entry(CLIENT_A, tarfile.DIRTYPE),
            (f"{CLIENT_A}/r.json", b"{}"),
            tar_entry(f"{CLIENT_A}/soft.json", tarfile.SYMTYPE, link="r.json"),
            tar_entry(
                f"{CLIENT_A}/hard.json", tarfile.LNKTYPE, link=f"{CLIENT_A}/r.json"
            ),
            tar_entry(f"{CLIENT_A}/tty.json", tarfile.CHRTYPE),
            tar_entry(f"{CLIENT_A}/disk.json", tarfile.BLKTYPE),
            tar_entry(f"{CLIENT_A}/pipe.json", tarfile.FIFOTYPE),
        ],
        mode="w:gz",
    )

    walked = walk(archive)

    assert walked.kinds == ["Receipt"] + ["Skipped"] * 5
    assert [item.reason for item in walked.skipped] == [
        "symbolic link",
        "hard link inside a tar archive (its target is sent)",
        "not a regular file (device, FIFO)",
        "not a regular file (device, FIFO)",
        "not a regular file (device, FIFO)",
    ]


def test_junk_empty_oversized_and_nested_members(tmp_path: Path) -> None:
    """Junk is skipped; empty, too large and nested archives fail alone."""
    archive = write_tar(
        tmp_path / "a.tar.bz2",
        [
            (f"{CLIENT_A}/.DS_Store", b"x"),
            (f"__MACOSX/{CLIENT_A}/._r.json", b"x"),
            (f"{CLIENT_A}/empty.json", b""),
            (f"{CLIENT_A}/huge.json", b"x" * 11),
            (f"{CLIENT_A}/inner.tar.gz", b"x"),
            (f"{CLIENT_A}/ok.json", b"x" * 10),
        ],
        mode="w:bz2",
    )

    walked = walk(archive, max_size=10)

    assert walked.kinds == [
        *["Skipped"] * 2,
        *["Unusable"] * 3,
        "Receipt",
    ]
    assert [(u.name, u.client_id) for u in walked.unusable] == [
        ("empty.json", CLIENT_A),
        ("huge.json", CLIENT_A),
        ("inner.tar.gz", CLIENT_A),
    ]
    assert "over the size limit of 10 bytes" in walked.unusable[1].reason
    assert "archive inside an archive" in walked.unusable[2].reason
    assert list(walked.contents.values()) == [b"x" * 10]


def test_invalid_utf8_names_become_sane_text(tmp_path: Path) -> None:
    """Undecodable name bytes are read as Windows-1252, never as surrogates."""
    raw_name = f"{CLIENT_A}/Kassenbon-\udcfc\udce4.json"  # b"\xfc\xe4": not UTF-8
    archive = write_tar(tmp_path / "a.tar", [(raw_name, b"{}")])

    walked = walk(archive)

    (receipt,) = walked.receipts
    assert receipt.name == "Kassenbon-üä.json"
    assert receipt.client_id == CLIENT_A
    receipt.origin.encode("utf-8")  # would raise on a lone surrogate


@pytest.mark.parametrize(("suffix", "mode"), [(".tar", "w"), (".tgz", "w:gz")])
def test_truncated_archive_keeps_what_came_before(
    tmp_path: Path, suffix: str, mode: str
) -> None:
    """Members before the cut come out; then one Unusable; then the next source."""
    noise = random.Random(7).randbytes(60_000)  # incompressible: the cut lands in it
    archive = write_tar(
        tmp_path / f"cut{suffix}",
        [(f"{CLIENT_A}/first.json", b"{}"), (f"{CLIENT_A}/second.bin", noise)],
        mode=mode,
    )
    truncate(archive, archive.stat().st_size - 20_000)
    fine = write_tar(tmp_path / "fine.tar", [(f"{CLIENT_B}/r.json", b"{}")])

    walked = walk(archive, fine)

    assert walked.kinds == ["Receipt", "Unusable", "Receipt"]
    (unusable,) = walked.unusable
    assert unusable.origin == str(archive)
    assert unusable.reason.startswith(
        f"truncated or corrupt tar archive after 1 member, inside '{CLIENT_A}/second"
    )
    assert unusable.reason.endswith("the file is cut short")
    assert [r.client_id for r in walked.receipts] == [CLIENT_A, CLIENT_B]


@pytest.mark.parametrize("suffix", [".tar", ".tar.gz", ".tar.xz"])
def test_garbage_named_like_a_tar_is_one_unusable(tmp_path: Path, suffix: str) -> None:
    """A file that only claims to be a tar is reported once, with its path."""
    archive = tmp_path / f"fake{suffix}"
    archive.write_bytes(b"\x1f\x8b this is not what it says " * 40)

    walked = walk(archive)

    assert walked.kinds == ["Unusable"]
    assert walked.unusable[0].origin == str(archive)
    assert "tar archive" in walked.unusable[0].reason


def test_walking_a_tar_does_not_keep_its_headers(tmp_path: Path) -> None:
    """Memory stays flat: headers already walked are not kept alive."""
    archive = write_tar(
        tmp_path / "many.tar", [(f"{CLIENT_A}/{n}.json", b"{}") for n in range(3000)]
    )
    source = ReceiptSource([archive], SourceOptions(license_id="L"))

    for number, _ in enumerate(source):
        if number == 2500:
            gc.collect()
            alive = sum(isinstance(o, tarfile.TarInfo) for o in gc.get_objects())
            break

    assert alive < 10


def test_archives_found_in_folders_are_opened(tmp_path: Path) -> None:
    """Zips and tars inside a folder are walked, their path kept in origin."""
    folder = tmp_path / "exports" / CLIENT_A
    folder.mkdir(parents=True)
    write_tar(folder / "day.tar.xz", [("r.json", b"1")], mode="w:xz")
    write_zip(folder / "day.zip", [(f"{CLIENT_B}/r.json", b"2")])

    walked = walk(tmp_path / "exports")

    assert [(r.origin, r.client_id) for r in walked.receipts] == [
        (f"{folder}/day.tar.xz:r.json", CLIENT_A),
        (f"{folder}/day.zip:{CLIENT_B}/r.json", CLIENT_B),
    ]
    assert list(walked.contents.values()) == [b"1", b"2"]


# Five members of 512 + 1024 bytes each: member k's header starts at k * 1536.
_MEMBER = 1536
_FIVE = [(f"{CLIENT_A}/{n}.json", b"%d" % n * 600) for n in range(5)]
_SUFFIXES = [".tar", ".tar.gz", ".tar.bz2", ".tar.xz"]


@pytest.mark.parametrize("suffix", _SUFFIXES)
@pytest.mark.parametrize(
    ("cut", "where"),
    [
        (3 * _MEMBER, f"following '{CLIENT_A}/2.json'"),
        (3 * _MEMBER + 100, f"following '{CLIENT_A}/2.json'"),
        (3 * _MEMBER + 512 + 300, f"inside '{CLIENT_A}/3.json'"),
    ],
    ids=["at-a-member-boundary", "mid-header", "mid-member"],
)
def test_tar_data_cut_short_is_reported(
    tmp_path: Path, suffix: str, cut: int, where: str
) -> None:
    """A tar cut anywhere (then compressed whole) yields what came before, then
    one Unusable saying so: without it, a cut archive looks complete."""
    archive = tmp_path / f"cut{suffix}"
    archive.write_bytes(compress(tar_bytes(_FIVE)[:cut], suffix))

    walked = walk(archive)

    assert walked.kinds == ["Receipt"] * 3 + ["Unusable"]
    (unusable,) = walked.unusable
    assert unusable.origin == str(archive)
    assert unusable.reason.startswith(
        f"truncated or corrupt tar archive after 3 members, {where}: "
    )
    assert unusable.reason.endswith("the file is cut short")


@pytest.mark.parametrize("suffix", [".tar.gz", ".tar.bz2", ".tar.xz"])
def test_compressed_stream_cut_short_is_reported(tmp_path: Path, suffix: str) -> None:
    """A compressed stream that breaks off mid-way yields the members that came
    through whole, then one Unusable naming the compression."""
    noise = random.Random(3)  # incompressible, so the cut lands mid-archive
    members = [(f"{CLIENT_A}/{n}.bin", noise.randbytes(4000)) for n in range(40)]
    data = compress(tar_bytes(members), suffix)
    archive = tmp_path / f"cut{suffix}"
    # bzip2 gives nothing of a 100 kB block until all of it has come.
    archive.write_bytes(data[: len(data) * 3 // 4])

    walked = walk(archive)

    got = len(walked.receipts)
    assert 5 <= got < 40
    assert walked.kinds == ["Receipt"] * got + ["Unusable"]
    codec = {".tar.gz": "gzip", ".tar.bz2": "bzip2", ".tar.xz": "xz"}[suffix]
    assert walked.unusable[0].reason.startswith(
        f"truncated or corrupt tar archive after {got} members"
    )
    assert walked.unusable[0].reason.endswith(
        f"the {codec} data breaks off: the file is cut short"
    )


@pytest.mark.parametrize("suffix", [".tar.gz", ".tar.bz2", ".tar.xz"])
def test_cut_in_the_compressed_trailer_is_reported(tmp_path: Path, suffix: str) -> None:
    """Every member may come through while the stream's own end (the gzip
    checksum and length, the bzip2 or xz footer) is missing: still reported."""
    data = compress(tar_bytes(_FIVE), suffix)
    archive = tmp_path / f"cut{suffix}"
    archive.write_bytes(data[:-3])

    walked = walk(archive)

    assert walked.kinds == ["Receipt"] * 5 + ["Unusable"]
    assert walked.unusable[0].reason.startswith(
        f"truncated or corrupt tar archive after 5 members, following "
        f"'{CLIENT_A}/4.json': "
    )
    assert "breaks off: the file is cut short" in walked.unusable[0].reason


def test_garbage_header_mid_archive_is_reported(tmp_path: Path) -> None:
    """tarfile stops quietly at a damaged header after the first; we do not."""
    data = bytearray(tar_bytes(_FIVE))
    data[2 * _MEMBER : 2 * _MEMBER + 512] = b"\xa5" * 512
    archive = tmp_path / "damaged.tar"
    archive.write_bytes(bytes(data))

    walked = walk(archive)

    assert walked.kinds == ["Receipt", "Receipt", "Unusable"]
    assert walked.unusable[0].reason == (
        f"truncated or corrupt tar archive after 2 members, following "
        f"'{CLIENT_A}/1.json': no valid header or end-of-archive marker at byte "
        f"{2 * _MEMBER}"
    )


@pytest.mark.parametrize("suffix", _SUFFIXES)
def test_whole_archives_pass_the_end_check(tmp_path: Path, suffix: str) -> None:
    """Complete archives, an empty one and a concatenated gzip raise nothing."""
    whole = tmp_path / f"whole{suffix}"
    whole.write_bytes(compress(tar_bytes(_FIVE), suffix))
    empty = tmp_path / f"empty{suffix}"
    empty.write_bytes(compress(tar_bytes([]), suffix))
    data = tar_bytes(_FIVE)
    halves = tmp_path / f"halves{suffix}"
    halves.write_bytes(compress(data[:4000], suffix) + compress(data[4000:], suffix))

    walked = walk(whole, empty, halves)

    assert walked.kinds == ["Receipt"] * 10
    assert len(walked.contents) == 10


def test_control_characters_in_tar_names_are_unusable_and_not_read(
    tmp_path: Path,
) -> None:
    """A tar member named with control characters is refused, shown escaped;
    the members after it still come."""
    archive = write_tar(
        tmp_path / "a.tar",
        [(f"{CLIENT_A}/\x1b]0;pwned\x07.json", b"1"), (f"{CLIENT_A}/ok.json", b"2")],
    )

    walked = walk(archive)

    assert walked.kinds == ["Unusable", "Receipt"]
    assert walked.unusable[0] == Unusable(
        f"{archive}:{CLIENT_A}/\\x1b]0;pwned\\x07.json",
        "file name contains control characters",
        "\\x1b]0;pwned\\x07.json",
        CLIENT_A,
    )
    assert list(walked.contents.values()) == [b"2"]


def test_a_wrong_gzip_checksum_is_reported(tmp_path: Path) -> None:
    """A gzip whose CRC-32 does not match its data is damaged, even when every
    member parsed: tarfile alone never checks it."""
    data = bytearray(compress(tar_bytes(_FIVE), ".tar.gz"))
    data[-8] ^= 0xFF  # the first byte of the CRC-32 in the gzip trailer
    archive = tmp_path / "crc.tar.gz"
    archive.write_bytes(bytes(data))

    walked = walk(archive)

    assert walked.kinds == ["Receipt"] * 5 + ["Unusable"]
    assert walked.unusable[0].reason.startswith(
        f"truncated or corrupt tar archive after 5 members, following "
        f"'{CLIENT_A}/4.json': the gzip data is corrupt (CRC check failed"
    )
