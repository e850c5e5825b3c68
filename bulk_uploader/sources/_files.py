"""Opening the files a source names, without hanging on pipes or devices.

Opening a FIFO for reading waits until some process opens it for writing,
which may be never, and no signal ends that wait. So files are opened
non-blocking and checked with ``fstat`` before a byte is read: whatever
stands at a path when it is opened (not when it was listed) must be a
regular file.
"""

from __future__ import annotations

import io
import os
import stat

__all__ = ["NotRegularFile", "file_kind", "open_regular", "read_config"]

# O_NONBLOCK makes open() return at once on a FIFO; on a regular file it
# changes nothing. O_NOCTTY keeps a terminal device from becoming ours;
# O_BINARY (Windows only) keeps line endings as they are.
_FLAGS = (
    getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_BINARY", 0)
)

_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a folder"),
)


class NotRegularFile(OSError):
    """The path names a FIFO, device, socket or folder, not a regular file."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"{kind}, not a regular file")


def file_kind(mode: int) -> str:
    """What ``st_mode`` says a path is, as a person would say it."""
    for test, kind in _KINDS:
        if test(mode):
            return kind
    return "a regular file" if stat.S_ISREG(mode) else "not a regular file"


def open_regular(
    path: str, buffer_size: int = io.DEFAULT_BUFFER_SIZE
) -> io.BufferedReader:
    """Open ``path`` for reading, or raise ``NotRegularFile`` without waiting.

    Other failures raise ``OSError`` as ``open`` does.
    """
    descriptor = os.open(path, os.O_RDONLY | _FLAGS)
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(file_kind(mode))
        raw = io.FileIO(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise
    return io.BufferedReader(raw, buffer_size)


def read_config(path: str) -> bytes:
    """The bytes of a manifest or clients file.

    A FIFO is read (a shell's ``<(...)`` hands one over, and its writer is
    running); a device or socket is refused, as ``/dev/zero`` never ends.
    """
    mode = os.stat(path).st_mode
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISSOCK(mode):
        raise NotRegularFile(file_kind(mode))
    with open(path, "rb") as stream:
        return stream.read()
