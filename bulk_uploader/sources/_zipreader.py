"""Reading a zip archive one central-directory entry at a time.

``zipfile`` loads the whole central directory before the first member can
be read: about 620 MB and 5 s for a million entries. This reader streams
the directory instead, so memory stays flat and the first receipt is ready
at once. It reads what receipts need (stored, deflate, bzip2 and LZMA
members, Zip64, data prepended to the archive) and refuses the rest with a
reason.
"""

from __future__ import annotations

import bz2
import lzma
import os
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal, TypeVar

from ..errors import UnreadableReceipt
from ._files import open_regular
from ._text import decode_lenient, repair_name

__all__ = ["DamagedArchive", "MemberKind", "ZipMember", "ZipReader"]

_EOCD = struct.Struct("<4s4H2LH")
_EOCD_SIG = b"PK\x05\x06"
_LOCATOR = struct.Struct("<4sLQL")
_LOCATOR_SIG = b"PK\x06\x07"
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_EOCD64_SIG = b"PK\x06\x06"
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_CENTRAL_SIG = b"PK\x01\x02"
# Where the name, extra and comment lengths lie among the unpacked fields.
_NAME_LENGTH, _COMMENT_LENGTH = 10, 12
_LOCAL = struct.Struct("<4s5H3L2H")
_LOCAL_SIG = b"PK\x03\x04"
_ZIP64_EXTRA = 0x0001
# Every length and offset comes from the archive. Each is checked where it
# is used; should a check be missing, the error fails this archive (or
# member), never the run.
_PARSE_ERRORS = (struct.error, ValueError, OverflowError, IndexError)
_MAX_COMMENT = 0xFFFF

_FLAG_ENCRYPTED = 0x0001
_FLAG_UTF8 = 0x0800
_UNIX = 3
_S_IFMT, _S_IFREG, _S_IFDIR, _S_IFLNK = 0o170000, 0o100000, 0o040000, 0o120000

STORED, DEFLATED, BZIP2, LZMA = 0, 8, 12, 14
_METHOD_NAMES = {
    1: "Shrink",
    6: "Implode",
    9: "Deflate64",
    93: "Zstandard",
    95: "XZ",
    98: "PPMd",
    99: "WinZip AES",
}

MemberKind = Literal["file", "dir", "symlink", "special"]
# A central-directory entry: its fixed fields, the bytes of its name, extra
# field and comment, and its number (from 1) for messages.
_Entry = tuple[tuple[Any, ...], bytes, int]
_Parsed = TypeVar("_Parsed")


class DamagedArchive(Exception):
    """The archive as a whole cannot be read further; the message says why."""


@dataclass(frozen=True, slots=True)
class ZipMember:
    """One central-directory entry, with its name as readable text."""

    name: str
    kind: MemberKind
    flags: int
    method: int
    crc: int
    compressed_size: int
    size: int
    header_offset: int

    @property
    def encrypted(self) -> bool:
        return bool(self.flags & _FLAG_ENCRYPTED)

    def unsupported_method(self) -> str | None:
        """Why this member's compression cannot be read, or ``None``."""
        if self.method in (STORED, DEFLATED, BZIP2, LZMA):
            return None
        name = _METHOD_NAMES.get(self.method, "unknown")
        return f"compression method {self.method} ({name}) is not supported"


@dataclass(frozen=True, slots=True)
class _Directory:
    start: int
    size: int
    shift: int  # bytes of other data (a self-extractor stub) before the zip


class ZipReader:
    """An open zip archive: its entries as a stream, and their bytes on demand."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._closed = False
        try:
            self._data: BinaryIO = open_regular(path)
        except OSError as exc:
            raise DamagedArchive(f"cannot open: {exc.strerror or exc}") from exc
        try:
            self._directory = self._find_directory()
        except OSError as exc:
            self.close()
            raise DamagedArchive(f"cannot read: {exc.strerror or exc}") from exc
        except DamagedArchive:
            self.close()
            raise

    def close(self) -> None:
        self._closed = True
        self._data.close()

    def __enter__(self) -> ZipReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _find_directory(self) -> _Directory:
        end = self._end = self._data.seek(0, os.SEEK_END)
        if end == 0:
            raise DamagedArchive("empty file (0 bytes), not a zip archive")
        tail_start = max(0, end - _EOCD.size - _MAX_COMMENT)
        self._data.seek(tail_start)
        tail = self._data.read()

        at = tail.rfind(_EOCD_SIG)
        while at >= 0 and at + _EOCD.size > len(tail):
            at = tail.rfind(_EOCD_SIG, 0, at)
        if at < 0:
            raise DamagedArchive(
                "not a zip archive, or truncated: no end-of-central-directory record"
            )
        record_at = tail_start + at
        *_, size, offset, _comment = _EOCD.unpack_from(tail, at)

        if at >= _LOCATOR.size:
            signature, _, eocd64_at, _ = _LOCATOR.unpack_from(tail, at - _LOCATOR.size)
            if signature == _LOCATOR_SIG:
                record_at, size, offset = self._read_eocd64(record_at, eocd64_at)

        shift = record_at - size - offset
        if shift < 0:
            raise DamagedArchive(
                "truncated or corrupt: the central directory lies beyond the data"
            )
        return _Directory(start=offset + shift, size=size, shift=shift)

    def _read_eocd64(self, locator_end: int, claimed_at: int) -> tuple[int, int, int]:
        # The locator sits right before the classic record; the Zip64 record
        # right before the locator (its claimed offset ignores prepended data).
        at = locator_end - _LOCATOR.size - _EOCD64.size
        if at < 0:
            raise DamagedArchive("corrupt Zip64 end-of-central-directory record")
        self._data.seek(at)
        record = self._data.read(_EOCD64.size)
        if len(record) < _EOCD64.size or record[:4] != _EOCD64_SIG:
            raise DamagedArchive(
                f"corrupt Zip64 end-of-central-directory record (at {claimed_at})"
            )
        *_, size, offset = _EOCD64.unpack(record)
        return at, size, offset

    def members(self) -> Iterator[ZipMember]:
        """Yield every entry of the central directory, in archive order.

        Raises ``DamagedArchive`` where the directory turns out corrupt;
        the entries before that point have been yielded.
        """
        return self._scan(_member)

    def kinds(self) -> Iterator[MemberKind]:
        """The kind of every entry, as ``members`` would give it, and damage
        found at the same entry; about twice as fast, as names stay bytes."""
        return self._scan(_member_kind)

    def _scan(self, parse: Callable[[_Entry, int], _Parsed]) -> Iterator[_Parsed]:
        # Its own stream: the directory can be scanned while members are read,
        # and from another thread than the one reading them.
        directory = self._directory
        number = 0
        try:
            with open_regular(self.path, 1 << 16) as stream:
                stream.seek(directory.start)
                left = directory.size
                while left > 0:
                    number += 1
                    entry = _read_central(stream, number)
                    left -= _CENTRAL.size + len(entry[1])
                    yield parse(entry, directory.shift)
        except OSError as exc:
            raise DamagedArchive(
                f"cannot read the central directory: {exc.strerror or exc}"
            ) from exc
        except _PARSE_ERRORS as exc:
            raise DamagedArchive(
                f"corrupt central directory at entry {number}"
            ) from exc

    def read(self, member: ZipMember, limit: int) -> bytes:
        """The uncompressed bytes of ``member``, checked against its CRC-32.

        ``limit`` bounds what is read even when the directory lies about
        sizes. Raises ``UnreadableReceipt`` with a reason.
        """
        if self._closed:
            raise UnreadableReceipt(
                "the archive was already closed: read each receipt before the "
                "source moves on to the next"
            )
        if member.size > limit:
            raise UnreadableReceipt(f"{member.size} bytes, over the limit of {limit}")
        if member.header_offset + _LOCAL.size > self._end:
            raise UnreadableReceipt(
                "the archive is damaged: its directory places this member "
                "beyond the end of the file"
            )
        ceiling = member.size + member.size // 8 + 65536
        if member.compressed_size > ceiling:
            raise UnreadableReceipt(
                f"the archive's directory is corrupt: {member.compressed_size} "
                f"compressed bytes for {member.size} bytes"
            )
        try:
            packed = self._read_packed(member)
            content = _unpack(member, packed)
        except OSError as exc:
            raise UnreadableReceipt(
                f"cannot read the archive: {exc.strerror or exc}"
            ) from exc
        except _PARSE_ERRORS as exc:
            raise UnreadableReceipt(f"the archive is damaged here: {exc}") from exc
        if len(content) != member.size:
            raise UnreadableReceipt(
                f"corrupt member: {len(content)} bytes unpacked where the archive "
                f"says {member.size}"
            )
        if zlib.crc32(content) != member.crc:
            raise UnreadableReceipt("bad CRC-32: the member's bytes are corrupt")
        return content

    def _read_packed(self, member: ZipMember) -> bytes:
        self._data.seek(member.header_offset)
        header = self._data.read(_LOCAL.size)
        if len(header) < _LOCAL.size or header[:4] != _LOCAL_SIG:
            raise UnreadableReceipt(
                "the archive is damaged: no local header where the directory "
                "points for this member"
            )
        *_, name_length, extra_length = _LOCAL.unpack(header)
        self._data.seek(name_length + extra_length, os.SEEK_CUR)
        packed = self._data.read(member.compressed_size)
        if len(packed) < member.compressed_size:
            raise UnreadableReceipt("the archive ends inside this member (truncated)")
        return packed


def _read_central(stream: BinaryIO, number: int) -> _Entry:
    fixed = stream.read(_CENTRAL.size)
    if len(fixed) < _CENTRAL.size or fixed[:4] != _CENTRAL_SIG:
        raise DamagedArchive(f"corrupt central directory at entry {number}")
    fields = _CENTRAL.unpack(fixed)
    wanted = sum(fields[_NAME_LENGTH : _COMMENT_LENGTH + 1])
    variable = stream.read(wanted)
    if len(variable) < wanted:
        raise DamagedArchive(f"central directory cut short at entry {number}")
    return fields, variable, number


def _member(entry: _Entry, shift: int) -> ZipMember:
    fields, variable, number = entry
    (
        _,
        made_by,
        _,
        flags,
        method,
        _,
        _,
        crc,
        compressed_size,
        size,
        name_length,
        extra_length,
        _,
        _,
        _,
        attributes,
        offset,
    ) = fields
    raw_name = variable[:name_length]
    if 0xFFFFFFFF in (size, compressed_size, offset):
        size, compressed_size, offset = _zip64_values(
            variable[name_length : name_length + extra_length],
            size,
            compressed_size,
            offset,
            number,
        )
    return ZipMember(
        name=_member_name(raw_name, flags),
        kind=_kind(raw_name, made_by, attributes),
        flags=flags,
        method=method,
        crc=crc,
        compressed_size=compressed_size,
        size=size,
        header_offset=offset + shift,
    )


def _member_kind(entry: _Entry, shift: int) -> MemberKind:
    fields, variable, number = entry
    name_length, extra_length = fields[_NAME_LENGTH], fields[_NAME_LENGTH + 1]
    compressed_size, size, offset = fields[8], fields[9], fields[16]
    if 0xFFFFFFFF in (size, compressed_size, offset):
        # Checked as for a full member, so that damage stops both scans at
        # the same entry.
        _zip64_values(
            variable[name_length : name_length + extra_length],
            size,
            compressed_size,
            offset,
            number,
        )
    return _kind(variable[:name_length], fields[1], fields[15])


def _zip64_values(
    extra: bytes, size: int, compressed_size: int, offset: int, number: int
) -> tuple[int, int, int]:
    # The extra field is a list of (type, length, data); every length comes
    # from the archive and is checked against what is really there.
    at = 0
    while at + 4 <= len(extra):
        kind, length = struct.unpack_from("<2H", extra, at)
        body = extra[at + 4 : at + 4 + length]
        if len(body) < length:
            break
        if kind == _ZIP64_EXTRA:
            values = iter(struct.unpack_from(f"<{length // 8}Q", body))
            try:
                if size == 0xFFFFFFFF:
                    size = next(values)
                if compressed_size == 0xFFFFFFFF:
                    compressed_size = next(values)
                if offset == 0xFFFFFFFF:
                    offset = next(values)
            except StopIteration:
                break
            return size, compressed_size, offset
        at += 4 + length
    raise DamagedArchive(f"corrupt Zip64 sizes at entry {number}")


def _member_name(raw: bytes, flags: int) -> str:
    if raw.isascii():
        return raw.decode("ascii")
    if flags & _FLAG_UTF8:
        return decode_lenient(raw)[0]
    return repair_name(raw.decode("cp437"), "cp437")


def _kind(raw_name: bytes, made_by: int, attributes: int) -> MemberKind:
    if raw_name.endswith((b"/", b"\\")):
        return "dir"
    mode = attributes >> 16
    if made_by >> 8 != _UNIX or not mode & _S_IFMT:
        return "file"
    file_type = mode & _S_IFMT
    if file_type == _S_IFREG:
        return "file"
    if file_type == _S_IFDIR:
        return "dir"
    if file_type == _S_IFLNK:
        return "symlink"
    return "special"


def _unpack(member: ZipMember, packed: bytes) -> bytes:
    wanted = member.size + 1  # one byte more reveals a member bigger than said
    try:
        if member.method == STORED:
            return packed
        if member.method == DEFLATED:
            return zlib.decompressobj(-zlib.MAX_WBITS).decompress(packed, wanted)
        if member.method == BZIP2:
            return bz2.BZ2Decompressor().decompress(packed, max_length=wanted)
        if member.method == LZMA:
            return _unpack_lzma(packed, wanted)
    except (zlib.error, OSError, EOFError, lzma.LZMAError) as exc:
        raise UnreadableReceipt(f"corrupt compressed data: {exc}") from exc
    raise UnreadableReceipt(member.unsupported_method() or "unsupported member")


def _unpack_lzma(packed: bytes, wanted: int) -> bytes:
    # Zip frames raw LZMA1 with a 4-byte header: version, then the length of
    # the properties that follow (one lc/lp/pb byte and the dictionary size).
    if len(packed) < 9:
        raise lzma.LZMAError("LZMA header cut short")
    (properties_length,) = struct.unpack_from("<H", packed, 2)
    if properties_length < 5:
        raise lzma.LZMAError("LZMA properties cut short")
    bits = packed[4]
    if bits >= 9 * 5 * 5:
        raise lzma.LZMAError("invalid LZMA properties")
    (dictionary,) = struct.unpack_from("<L", packed, 5)
    lzma_filter = {
        "id": lzma.FILTER_LZMA1,
        # A window larger than the member is never used, and the archive
        # could claim 4 GiB.
        "dict_size": min(dictionary, max(wanted, 4096)),
        "lc": bits % 9,
        "lp": (bits // 9) % 5,
        "pb": bits // 45,
    }
    decompressor = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[lzma_filter])
    return decompressor.decompress(packed[4 + properties_length :], max_length=wanted)
