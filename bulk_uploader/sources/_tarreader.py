"""Reading a tar archive front to back, and making sure it was whole.

``tarfile`` stops quietly where a tar archive ends early: at the true end
of a cut file, at a half header, or at a compressed stream that breaks off.
A truncated archive would then look like a smaller, complete one, and the
receipts after the cut would be lost without a word. This reader
decompresses the stream itself (so that a cut gzip, bzip2 or xz stream
raises), and after the last member checks that the end-of-archive marker
(a block of zeros) follows it and that the compressed stream ends properly.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zlib
from collections import deque
from collections.abc import Iterator
from typing import Protocol

from ._files import open_regular
from ._zipreader import DamagedArchive

__all__ = ["TarReader"]

_BLOCK = 512
# tarfile reads ahead by one record (20 blocks): keeping this much of what it
# was handed lets the end marker be checked after tarfile is done with it.
_KEEP = 64 * 1024
_DRAIN = 1 << 16
_CUT_IN_MEMBER = "the archive ends inside a member: the file is cut short"
_ERRORS = (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError)

# Magic bytes of the compressions tarfile's own stream mode recognises.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x5d\x00\x00\x80", "lzma"),
)


class _Readable(Protocol):
    def read1(self, size: int, /) -> bytes: ...


class _KeepingReader:
    """Hands tarfile the archive's bytes, counting them and keeping the last."""

    def __init__(self, stream: _Readable) -> None:
        self._stream = stream
        self.count = 0
        self._chunks: deque[bytes] = deque()
        self._kept = 0

    def read(self, size: int = -1) -> bytes:
        # read1 hands over what was decompressed before a cut in the stream
        # is found; read would drop it along with the error.
        data = self._stream.read1(size)
        if data:
            self.count += len(data)
            self._chunks.append(data)
            self._kept += len(data)
            while self._kept - len(self._chunks[0]) >= _KEEP:
                self._kept -= len(self._chunks.popleft())
        return data

    def block_at(self, offset: int) -> bytes:
        """Up to one block from ``offset`` on; reads on if it was not yet read."""
        while self.count < offset + _BLOCK and self.read(_BLOCK):
            pass
        start = self.count - self._kept
        if offset < start:
            raise DamagedArchive("the end of the archive could not be checked")
        kept = b"".join(self._chunks)
        return kept[offset - start : offset - start + _BLOCK]


class TarReader:
    """An open tar archive: its members in order, then a check that it ended.

    Every failure (a damaged header, a cut stream, a missing end marker)
    raises ``DamagedArchive`` with a reason; members before it have been
    yielded.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self._file = open_regular(path)
        except OSError as exc:
            raise DamagedArchive(f"cannot open: {exc.strerror or exc}") from exc
        self._codec = "tar"
        try:
            self._stream = self._decompressed(self._file)
            self._reader = _KeepingReader(self._stream)
            self._archive = _open_stream(self._reader)
        except _ERRORS as exc:
            self._file.close()
            raise DamagedArchive(self._explain(exc)) from exc

    def close(self) -> None:
        self._archive.close()
        self._file.close()

    def __enter__(self) -> TarReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _decompressed(self, raw: io.BufferedReader) -> _Readable:
        start = raw.read(6)
        raw.seek(0)
        for magic, codec in _MAGIC:
            if start.startswith(magic):
                self._codec = codec
                if codec == "gzip":
                    return gzip.GzipFile(fileobj=raw, mode="rb")
                if codec == "bzip2":
                    return bz2.BZ2File(raw)
                return lzma.LZMAFile(raw)
        return raw

    def members(self) -> Iterator[tarfile.TarInfo]:
        """Every header in archive order, then the check that the archive ended."""
        archive = self._archive
        try:
            while (info := archive.next()) is not None:
                # Stream mode still keeps every header it has read, so
                # memory would grow with the archive; typeshed does not
                # declare this (long-standing, undocumented) attribute.
                archive.members.clear()  # type: ignore[attr-defined]
                yield info
            self._check_end(archive.offset)
        except _ERRORS as exc:
            raise DamagedArchive(self._explain(exc)) from exc

    def content(self, info: tarfile.TarInfo) -> bytes:
        """The bytes of the member ``members`` just yielded."""
        try:
            member = self._archive.extractfile(info)
            if member is None:
                raise tarfile.ReadError(f"{info.name!r} has no content")
            with member:
                content = member.read()
        except _ERRORS as exc:
            raise DamagedArchive(self._explain(exc)) from exc
        if len(content) != info.size:
            raise DamagedArchive(_CUT_IN_MEMBER)
        return content

    def _check_end(self, offset: int) -> None:
        # tarfile stops without a word at a missing or unreadable header;
        # only a block of zeros there means the archive ended on purpose.
        block = self._reader.block_at(offset)
        if len(block) < _BLOCK:
            raise DamagedArchive(
                f"the tar data stops at byte {self._reader.count} without an "
                "end-of-archive marker: the file is cut short"
            )
        if block.count(0) != _BLOCK:
            raise DamagedArchive(
                f"no valid header or end-of-archive marker at byte {offset}"
            )
        if self._codec != "tar":
            # The checksum and length at the end of a compressed stream are
            # only checked when it is read to its end.
            while self._stream.read1(_DRAIN):
                pass

    def _explain(self, error: BaseException) -> str:
        if isinstance(error, EOFError):
            return f"the {self._codec} data breaks off: the file is cut short"
        if self._codec != "tar" and not isinstance(error, tarfile.TarError):
            return f"the {self._codec} data is corrupt ({_say(error)})"
        if isinstance(error, tarfile.ReadError) and "unexpected end" in str(error):
            return _CUT_IN_MEMBER
        if isinstance(error, OSError) and error.strerror:
            return f"cannot read: {error.strerror}"
        return _say(error)


def _open_stream(reader: _KeepingReader) -> tarfile.TarFile:
    # Stream mode reads each member once, front to back; "surrogateescape"
    # keeps undecodable names for repair later. typeshed wants a file object
    # that can also write and seek, which stream mode never does.
    return tarfile.open(  # type: ignore[call-overload,no-any-return]
        fileobj=reader, mode="r|", encoding="utf-8", errors="surrogateescape"
    )


def _say(error: BaseException) -> str:
    return str(error) or type(error).__name__
