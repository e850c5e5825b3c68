"""Walking folders and archives, and naming what lies in them."""

from __future__ import annotations

import os
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

from ..errors import UnreadableReceipt
from ._files import open_regular
from ._filters import PathFilter
from ._guid import parse_guid
from ._model import Skipped, Unusable
from ._paths import (
    archive_kind,
    archive_stem,
    guid_in_parts,
    junk_dir_reason,
    junk_file_reason,
    junk_folder_reason,
    layout_guid,
    name_problem,
    split_member,
)
from ._tarreader import TarReader
from ._text import escape_controls, repair_name
from ._zipreader import DamagedArchive, ZipMember, ZipReader

__all__ = ["Found", "Walker", "hold"]

_NESTED = (
    "an archive inside an archive is not opened: extract it and name it on "
    "the command line"
)
# No name this long can pass 255 bytes of UTF-8 (four bytes a character).
_SURELY_SHORT = 63
# A tar stores a second name of a file as a link to the member archived
# first; that member is sent under its own name, so the link is not a receipt.
_HARD_LINK = "hard link inside a tar archive (its target is sent)"


@dataclass(frozen=True, slots=True)
class Found:
    """A file that may be a receipt, before its client and licence are known.

    ``path`` is where it lies relative to the source named on the command
    line, written like ``origin`` (``sub/day.zip:pos-1/r.json``); ``inner``
    is its path inside the folder or archive that holds it. ``layout_client``
    is the nearest GUID on its path. ``problem`` says why it cannot be sent
    whatever its client (encrypted, nested archive, ...).
    """

    name: str
    path: str
    inner: str
    origin: str
    size: int
    layout_client: str | None
    read: Callable[[], bytes]
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class _Container:
    """Where an archive lies: what its members' paths and origins start with."""

    origin: str
    path_prefix: str
    layout_client: str | None


Walked = Found | Skipped | Unusable


class Walker:
    """Lists every entry of folders and archives, lazily and in sorted order.

    Operating-system junk and entries the filter rejects come out as
    ``Skipped``; archives that cannot be read as one ``Unusable`` each.
    Archives inside archives are not opened (each is reported as unusable):
    zip members cannot be seeked cheaply, and silently sending an archive as
    a receipt would be worse.
    """

    def __init__(
        self,
        path_filter: PathFilter,
        *,
        max_size: int,
        config_files: frozenset[tuple[int, int]] = frozenset(),
    ) -> None:
        self._filter = path_filter
        self._max_size = max_size
        # (st_dev, st_ino) of the manifest and clients file, so that they are
        # not taken for receipts when they lie inside a source folder.
        self._config_files = config_files

    def walk(self, root: str) -> Iterator[Walked]:
        """Every entry under ``root``, a folder or an archive."""
        absolute = os.path.abspath(root)
        if os.path.isdir(root):
            root_client = guid_in_parts(absolute.split(os.sep))
            yield from self._folder(root, "", root_client)
            return
        parent_client = guid_in_parts(os.path.dirname(absolute).split(os.sep))
        client = parse_guid(archive_stem(os.path.basename(root))) or parent_client
        yield from self._archive(root, _Container(escape_controls(root), "", client))

    def _folder(
        self, folder: str, rel: str, root_client: str | None
    ) -> Iterator[Walked]:
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as exc:
            why = f"cannot list the folder: {exc.strerror or exc}"
            yield Unusable(escape_controls(folder), why)
            return

        for entry in entries:
            entry_rel = f"{rel}/{entry.name}" if rel else entry.name
            origin = escape_controls(entry.path)
            try:
                if entry.is_symlink():
                    yield Skipped(origin, "symbolic link (links are not followed)")
                elif entry.is_dir(follow_symlinks=False):
                    reason = junk_dir_reason(entry.name)
                    if reason is not None:
                        yield Skipped(origin + os.sep, reason)
                    else:
                        yield from self._folder(entry.path, entry_rel, root_client)
                elif entry.is_file(follow_symlinks=False):
                    yield from self._file(entry, entry_rel, origin, root_client)
                else:
                    yield Skipped(origin, "not a regular file (device, FIFO, socket)")
            except OSError as exc:
                yield Unusable(origin, f"cannot read: {exc.strerror or exc}")

    def _file(
        self, entry: os.DirEntry[str], rel: str, origin: str, root_client: str | None
    ) -> Iterator[Walked]:
        name = entry.name
        reason = junk_file_reason(name)
        if reason is not None:
            yield Skipped(origin, reason)
            return
        folder = rel[: -len(name) - 1]
        client = layout_guid(folder) or root_client

        if archive_kind(name) is not None:
            reason = self._filter.excluded(rel, name)
            if reason is not None:
                yield Skipped(origin, reason)
                return
            client = parse_guid(archive_stem(name)) or client
            yield from self._archive(entry.path, _Container(origin, f"{rel}:", client))
            return

        reason = self._filter.rejected(rel, name)
        if reason is not None:
            yield Skipped(origin, reason)
            return
        status = entry.stat(follow_symlinks=False)
        if (status.st_dev, status.st_ino) in self._config_files:
            yield Skipped(origin, "the manifest or clients file of this run")
            return
        size = status.st_size
        read = partial(_read_file, entry.path, size, self._max_size)
        # Undecodable bytes in a file name are read as Windows-1252, as in tar
        # archives: the cloud and the journal need text.
        name, problem = _checked_name(repair_name(name, "utf-8"))
        yield Found(name, rel, rel, origin, size, client, read, problem)

    def _archive(self, path: str, container: _Container) -> Iterator[Walked]:
        if archive_kind(path) == "zip":
            yield from self._zip(path, container)
        else:
            yield from self._tar(path, container)

    def _zip(self, path: str, container: _Container) -> Iterator[Walked]:
        try:
            reader = ZipReader(path)
        except DamagedArchive as exc:
            yield Unusable(container.origin, f"unreadable zip archive: {exc}")
            return
        with reader:
            try:
                for member in reader.members():
                    item = self._zip_member(reader, member, container)
                    if item is not None:
                        yield item
            except DamagedArchive as exc:
                yield Unusable(container.origin, f"damaged zip archive: {exc}")

    def _zip_member(
        self, reader: ZipReader, member: ZipMember, container: _Container
    ) -> Walked | None:
        printable = member.name.isprintable()
        origin = _member_origin(container, member.name, printable)
        if member.kind == "dir":
            return None
        if member.kind == "symlink":
            return Skipped(origin, "symbolic link")
        if member.kind == "special":
            return Skipped(origin, "not a regular file (device, FIFO, socket)")

        admitted = self._admit(member.name, origin, printable, container)
        if isinstance(admitted, Skipped):
            return admitted
        name, inner, path, client, problem = admitted

        problem = problem or _zip_problem(name, member)
        read = partial(reader.read, member, self._max_size)
        return Found(name, path, inner, origin, member.size, client, read, problem)

    def _admit(
        self, member_name: str, origin: str, printable: bool, container: _Container
    ) -> tuple[str, str, str, str | None, str | None] | Skipped:
        """A member's name, inner path, source path, layout client and why its
        name cannot be sent, or why it is skipped (operating-system junk, or
        the user's filter). ``printable`` is ``member_name.isprintable()``."""
        folder, name = split_member(member_name)
        inner = f"{folder}/{name}" if folder else name
        path = container.path_prefix + inner
        reason = junk_folder_reason(folder) or junk_file_reason(name)
        if reason is None:
            reason = self._filter.rejected(path, name)
        if reason is not None:
            return Skipped(origin, reason)
        client = layout_guid(folder) or container.layout_client
        if printable and len(name) <= _SURELY_SHORT:
            return name, inner, path, client, None  # what nearly all names take
        shown, problem = _checked_name(name)
        return shown, inner, path, client, problem

    def _tar(self, path: str, container: _Container) -> Iterator[Walked]:
        try:
            reader = TarReader(path)
        except DamagedArchive as exc:
            yield Unusable(container.origin, f"unreadable tar archive: {exc}")
            return
        with reader:
            count, where = 0, "at its start"
            try:
                for info in reader.members():
                    member_name = repair_name(info.name, "utf-8")
                    where = f"inside {member_name!r}"
                    item = self._tar_member(reader, info, member_name, container)
                    count += 1
                    where = f"following {member_name!r}"
                    if item is not None:
                        yield item
            except DamagedArchive as exc:
                members = f"{count} member{'' if count == 1 else 's'}"
                reason = f"after {members}, {where}: {exc}"
                yield Unusable(
                    container.origin, f"truncated or corrupt tar archive {reason}"
                )

    def _tar_member(
        self,
        reader: TarReader,
        info: tarfile.TarInfo,
        member_name: str,
        container: _Container,
    ) -> Walked | None:
        printable = member_name.isprintable()
        origin = _member_origin(container, member_name, printable)
        if info.isdir():
            return None
        if info.issym():
            return Skipped(origin, "symbolic link")
        if info.islnk():
            return Skipped(origin, _HARD_LINK)
        if not info.isreg():
            return Skipped(origin, "not a regular file (device, FIFO)")

        admitted = self._admit(member_name, origin, printable, container)
        if isinstance(admitted, Skipped):
            return admitted
        name, inner, path, client, problem = admitted

        if problem is None and archive_kind(name) is not None:
            problem = _NESTED
        read: Callable[[], bytes] = _not_read
        if problem is None and 0 < info.size <= self._max_size:
            # A tar is a stream: the bytes must be taken now, before the
            # next header is read.
            read = hold(reader.content(info))
        return Found(name, path, inner, origin, info.size, client, read, problem)


def _zip_problem(name: str, member: ZipMember) -> str | None:
    if archive_kind(name) is not None:
        return _NESTED
    if member.encrypted:
        return "encrypted (password-protected) member"
    return member.unsupported_method()


def _member_origin(container: _Container, member_name: str, printable: bool) -> str:
    origin = f"{container.origin}:{member_name}"
    return origin if printable else escape_controls(origin)


def _checked_name(name: str) -> tuple[str, str | None]:
    """The name to report, and why it cannot be sent (then shown escaped)."""
    problem = name_problem(name)
    return (name, None) if problem is None else (escape_controls(name), problem)


def hold(content: bytes) -> Callable[[], bytes]:
    """A ``read`` that hands back bytes already taken from the source."""
    return partial(_identity, content)


def _identity(content: bytes) -> bytes:
    return content


def _not_read() -> bytes:
    raise UnreadableReceipt("not read: empty, too large, or not a receipt")


def _read_file(path: str, size: int, limit: int) -> bytes:
    try:
        with open_regular(path) as stream:
            # One byte more than expected shows a file that grew; asking for
            # the whole limit would allocate it for every small receipt.
            content = stream.read(min(size, limit) + 1)
    except FileNotFoundError as exc:
        raise UnreadableReceipt(
            "the file vanished after it was found (moved or deleted)"
        ) from exc
    except OSError as exc:
        raise UnreadableReceipt(f"cannot read: {exc.strerror or exc}") from exc
    if len(content) != size:
        raise UnreadableReceipt(
            f"the file changed after it was found: {size} bytes then, "
            f"{len(content)}{'+' if len(content) > size else ''} bytes now"
        )
    return content
