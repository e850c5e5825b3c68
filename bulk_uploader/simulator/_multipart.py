"""A small streaming multipart/form-data reader for the upload handler.

aiohttp's ``MultipartReader`` re-parses every part's Content-Disposition
with a slow generic parser, warns instead of failing on odd headers, and
strips leading slashes from file names. Uploads are the simulator's hot
path, so it reads the body itself: find each delimiter with ``bytes.find``,
hand each part's headers to the caller, and stream the part's bytes into a
sink the caller chose. Only a delimiter's length of data is ever held back,
so a large file does not sit in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from aiohttp import StreamReader

__all__ = ["MultipartError", "PartSink", "read_multipart"]

# Limits on the parts of the body that are buffered whole.
_MAX_PREAMBLE = 64 * 1024
_MAX_HEADERS = 16 * 1024
_MAX_BOUNDARY_LINE = 1024


class MultipartError(ValueError):
    """The body is not well-formed multipart; the message says where."""


class PartSink(Protocol):
    """Where the bytes of one part go."""

    def feed(self, data: bytes) -> None: ...


class _Buffer:
    """Bytes read from the request but not yet consumed."""

    def __init__(self, content: StreamReader) -> None:
        self._content = content
        self.data = b""

    async def fill(self) -> bool:
        """Read more; False at the end of the body."""
        chunk = await self._content.readany()
        if not chunk:
            return False
        self.data += chunk
        return True

    async def find(self, marker: bytes, limit: int, what: str) -> int:
        """Index of ``marker``, reading on until it shows up within ``limit``."""
        start = 0
        while (index := self.data.find(marker, start)) < 0:
            if len(self.data) > limit:
                raise MultipartError(f"{what} is too long")
            start = max(0, len(self.data) - len(marker) + 1)
            if not await self.fill():
                raise MultipartError(f"the body ends inside {what}")
        if index > limit:
            raise MultipartError(f"{what} is too long")
        return index


async def read_multipart(
    content: StreamReader,
    boundary: str,
    open_part: Callable[[dict[str, str]], PartSink],
) -> None:
    """Read every part up to the closing delimiter.

    ``open_part`` gets each part's headers (names in lower case) and returns
    the sink for its bytes; it may raise to reject the request.
    """
    dash_boundary = b"--" + boundary.encode("latin-1")
    delimiter = b"\r\n" + dash_boundary
    buffer = _Buffer(content)
    await _skip_preamble(buffer, dash_boundary, delimiter)

    while True:
        while len(buffer.data) < 2:
            if not await buffer.fill():
                raise MultipartError("the body ends after a boundary")
        if buffer.data.startswith(b"--"):
            return  # the closing delimiter; the epilogue does not matter

        end = await buffer.find(b"\r\n", _MAX_BOUNDARY_LINE, "a boundary line")
        if buffer.data[:end].strip(b" \t"):
            raise MultipartError("unexpected text after a boundary")
        buffer.data = buffer.data[end + 2 :]

        sink = open_part(await _read_headers(buffer))
        await _stream_part(buffer, delimiter, sink)


async def _skip_preamble(
    buffer: _Buffer, dash_boundary: bytes, delimiter: bytes
) -> None:
    while len(buffer.data) < len(dash_boundary) and await buffer.fill():
        pass
    if buffer.data.startswith(dash_boundary):
        buffer.data = buffer.data[len(dash_boundary) :]
        return

    index = await buffer.find(delimiter, _MAX_PREAMBLE, "the preamble")
    buffer.data = buffer.data[index + len(delimiter) :]


async def _read_headers(buffer: _Buffer) -> dict[str, str]:
    while len(buffer.data) < 2:
        if not await buffer.fill():
            raise MultipartError("the body ends inside part headers")
    if buffer.data.startswith(b"\r\n"):
        buffer.data = buffer.data[2:]
        return {}

    end = await buffer.find(b"\r\n\r\n", _MAX_HEADERS, "part headers")
    raw, buffer.data = buffer.data[:end], buffer.data[end + 4 :]

    headers: dict[str, str] = {}
    for line in raw.split(b"\r\n"):
        name, colon, value = line.partition(b":")
        if not colon or not name.strip():
            raise MultipartError("a part header line is malformed")
        # Like aiohttp: UTF-8 where possible, other bytes kept reversibly.
        key = name.strip().decode("latin-1").lower()
        headers[key] = value.strip().decode("utf-8", "surrogateescape")
    return headers


async def _stream_part(buffer: _Buffer, delimiter: bytes, sink: PartSink) -> None:
    # Hold back one byte less than a delimiter: it may be split across reads.
    keep = len(delimiter) - 1
    while True:
        index = buffer.data.find(delimiter)
        if index >= 0:
            sink.feed(buffer.data[:index])
            buffer.data = buffer.data[index + len(delimiter) :]
            return
        if len(buffer.data) > keep:
            sink.feed(buffer.data[:-keep])
            buffer.data = buffer.data[-keep:]
        if not await buffer.fill():
            raise MultipartError("the body ends inside a part")
