"""Building real zip and tar archives for tests, damaged in chosen ways."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import struct
import tarfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulk_uploader.errors import UnreadableReceipt
from bulk_uploader.sources import (
    Receipt,
    ReceiptSource,
    Skipped,
    SourceItem,
    SourceOptions,
    Unusable,
)

__all__ = [
    "CLIENT_A",
    "CLIENT_B",
    "CLIENT_C",
    "TAR_MODES",
    "Walked",
    "compress",
    "flip_byte",
    "patch_bytes",
    "set_zip_flag",
    "set_zip_method",
    "set_zip_size",
    "tar_bytes",
    "tar_entry",
    "truncate",
    "walk",
    "write_tar",
    "write_zip",
    "zip_data_offset",
    "zip_special",
    "zip_symlink",
]

CLIENT_A = "0f8fad5b-d9cb-469f-a165-70867728950e"
CLIENT_B = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
CLIENT_C = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"

# Suffix and tarfile write mode of every compression the sources accept.
TAR_MODES = {
    ".tar": "w",
    ".tar.gz": "w:gz",
    ".tgz": "w:gz",
    ".tar.bz2": "w:bz2",
    ".tar.xz": "w:xz",
}

_CENTRAL_SIG = b"PK\x01\x02"
_LOCAL_SIG = b"PK\x03\x04"


def write_zip(
    path: Path,
    members: Iterable[
        tuple[str, bytes] | zipfile.ZipInfo | tuple[zipfile.ZipInfo, bytes]
    ],
    *,
    compression: int = zipfile.ZIP_DEFLATED,
) -> Path:
    """Write a zip of ``(name, bytes)`` pairs, or prepared ``ZipInfo`` entries."""
    with zipfile.ZipFile(path, "w", compression) as archive:
        for member in members:
            if isinstance(member, zipfile.ZipInfo):
                archive.writestr(member, b"")
            else:
                name, content = member
                archive.writestr(name, content)
    return path


def zip_symlink(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    """A zip entry that Unix tools restore as a symbolic link."""
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = 0o120777 << 16
    return info, target.encode()


def _entries(data: bytes) -> Iterable[tuple[int, int, bytes]]:
    """(central header offset, local header offset, name) of each entry."""
    at = data.find(_CENTRAL_SIG)
    while at >= 0:
        name_length, extra_length, comment_length = struct.unpack_from(
            "<3H", data, at + 28
        )
        (local,) = struct.unpack_from("<L", data, at + 42)
        yield at, local, data[at + 46 : at + 46 + name_length]
        at = data.find(
            _CENTRAL_SIG, at + 46 + name_length + extra_length + comment_length
        )


def _find(data: bytes, name: str) -> tuple[int, int]:
    for central, local, raw in _entries(data):
        if raw == name.encode():
            return central, local
    raise KeyError(name)


def zip_data_offset(path: Path, name: str) -> int:
    """Where the (compressed) bytes of member ``name`` begin in the file."""
    data = path.read_bytes()
    _, local = _find(data, name)
    name_length, extra_length = struct.unpack_from("<2H", data, local + 26)
    return local + 30 + name_length + extra_length


def set_zip_flag(path: Path, name: str, bit: int) -> None:
    """Set a general-purpose flag bit of ``name`` in both of its headers."""
    data = bytearray(path.read_bytes())
    central, local = _find(bytes(data), name)
    for at in (central + 8, local + 6):
        (flags,) = struct.unpack_from("<H", data, at)
        struct.pack_into("<H", data, at, flags | bit)
    path.write_bytes(bytes(data))


def set_zip_method(path: Path, name: str, method: int) -> None:
    """Claim compression ``method`` for ``name`` in both of its headers."""
    data = bytearray(path.read_bytes())
    central, local = _find(bytes(data), name)
    struct.pack_into("<H", data, central + 10, method)
    struct.pack_into("<H", data, local + 8, method)
    path.write_bytes(bytes(data))


def set_zip_size(path: Path, name: str, size: int, *, compressed: bool = False) -> None:
    """Make the central directory claim another size for ``name``."""
    data = bytearray(path.read_bytes())
    central, _ = _find(bytes(data), name)
    struct.pack_into("<L", data, central + (20 if compressed else 24), size)
    path.write_bytes(bytes(data))


def zip_special(name: str, mode: int) -> tuple[zipfile.ZipInfo, bytes]:
    """A zip entry carrying a Unix file type, such as a FIFO."""
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = mode << 16
    return info, b""


def patch_bytes(path: Path, old: bytes, new: bytes) -> None:
    """Replace every ``old`` with ``new`` (same length), e.g. in member names."""
    assert len(old) == len(new)
    data = path.read_bytes()
    assert old in data
    path.write_bytes(data.replace(old, new))


def flip_byte(path: Path, offset: int) -> None:
    """Invert one byte of the file."""
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(path: Path, keep: int) -> None:
    """Cut the file after ``keep`` bytes (negative: drop that many from the end)."""
    data = path.read_bytes()
    path.write_bytes(data[:keep])


def tar_entry(
    name: str, kind: bytes = tarfile.REGTYPE, *, link: str = ""
) -> tarfile.TarInfo:
    """A tar header of any kind (directory, link, device) without content."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


def write_tar(
    path: Path,
    members: Iterable[tuple[str, bytes] | tarfile.TarInfo],
    *,
    mode: str = "w",
    encoding: str = "utf-8",
) -> Path:
    """Write a tar of ``(name, bytes)`` pairs and bare headers.

    Names may hold surrogate escapes: they are written as the raw bytes they
    stand for, which is how a tar with invalid UTF-8 names is made.
    """
    with tarfile.open(
        path,
        mode,
        format=tarfile.GNU_FORMAT,
        encoding=encoding,
        errors="surrogateescape",
    ) as archive:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                archive.addfile(member)
            else:
                name, content = member
                info = tarfile.TarInfo(name)
                info.size = len(content)
                archive.addfile(info, io.BytesIO(content))
    return path


def tar_bytes(members: Iterable[tuple[str, bytes]]) -> bytes:
    """An uncompressed tar of ``(name, bytes)`` pairs, as bytes to cut up."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for name, content in members:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def compress(data: bytes, suffix: str) -> bytes:
    """``data`` compressed as a file ending in ``suffix`` is (``.tar``: as is)."""
    if suffix.endswith(("gz", "tgz")):
        return gzip.compress(data)
    if suffix.endswith("bz2"):
        return bz2.compress(data, compresslevel=1)  # small blocks: 100 kB
    if suffix.endswith("xz"):
        return lzma.compress(data)
    return data


@dataclass
class Walked:
    """Everything a walk over sources yielded, with each receipt read in time.

    ``contents`` holds the bytes of each receipt that read, ``unreadable``
    the reason of each whose ``read()`` failed; both by origin.
    """

    items: list[SourceItem] = field(default_factory=list)
    contents: dict[str, bytes] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)

    @property
    def receipts(self) -> list[Receipt]:
        return [item for item in self.items if isinstance(item, Receipt)]

    @property
    def unusable(self) -> list[Unusable]:
        return [item for item in self.items if isinstance(item, Unusable)]

    @property
    def skipped(self) -> list[Skipped]:
        return [item for item in self.items if isinstance(item, Skipped)]

    @property
    def kinds(self) -> list[str]:
        return [type(item).__name__ for item in self.items]


def walk(*paths: str | os.PathLike[str], **options: Any) -> Walked:
    """Iterate a ReceiptSource, reading each receipt before advancing.

    ``license_id`` defaults to ``"LIC"`` so that tests about other things
    need not provide a licence.
    """
    options.setdefault("license_id", "LIC")
    walked = Walked()
    for item in ReceiptSource(list(paths), SourceOptions(**options)):
        walked.items.append(item)
        if isinstance(item, Receipt):
            try:
                walked.contents[item.origin] = item.read()
            except UnreadableReceipt as exc:
                walked.unreadable[item.origin] = str(exc)
    return walked
