"""What a path inside a source says: archive kind, OS junk, client folders."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from ._guid import parse_guid
from ._text import has_controls

# The limit of most file systems, and of what the cloud can be expected to take.
_MAX_NAME_BYTES = 255

__all__ = [
    "ARCHIVE_SUFFIXES",
    "ArchiveKind",
    "archive_kind",
    "archive_stem",
    "guid_in_parts",
    "junk_dir_reason",
    "junk_file_reason",
    "junk_folder_reason",
    "layout_guid",
    "name_problem",
    "split_member",
]

ArchiveKind = Literal["zip", "tar"]

# Longest suffixes first, so ".tar.gz" wins over a plain ".gz" check.
_SUFFIXES: tuple[tuple[str, ArchiveKind], ...] = (
    (".tar.bz2", "tar"),
    (".tar.gz", "tar"),
    (".tar.xz", "tar"),
    (".tbz2", "tar"),
    (".tgz", "tar"),
    (".txz", "tar"),
    (".tar", "tar"),
    (".zip", "zip"),
)
ARCHIVE_SUFFIXES = tuple(suffix for suffix, _ in _SUFFIXES)

_JUNK_FILES = {
    ".ds_store": "macOS folder settings (.DS_Store)",
    "thumbs.db": "Windows thumbnail cache (Thumbs.db)",
    "ehthumbs.db": "Windows thumbnail cache (ehthumbs.db)",
    "desktop.ini": "Windows folder settings (desktop.ini)",
    ".localized": "macOS folder settings (.localized)",
}
_JUNK_DIRS = {
    "__macosx": "macOS resource forks (__MACOSX folder)",
    ".git": "version control folder (.git)",
    ".svn": "version control folder (.svn)",
    ".spotlight-v100": "macOS search index (.Spotlight-V100)",
    ".trashes": "macOS trash (.Trashes)",
    ".fseventsd": "macOS file system log (.fseventsd)",
    "$recycle.bin": "Windows recycle bin ($RECYCLE.BIN)",
    "system volume information": "Windows system folder",
}


def archive_kind(name: str) -> ArchiveKind | None:
    """The kind of archive a file name announces, or ``None``."""
    lowered = name.lower()
    for suffix, kind in _SUFFIXES:
        if lowered.endswith(suffix):
            return kind
    return None


def archive_stem(name: str) -> str:
    """``name`` without its archive suffix (``a.tar.gz`` -> ``a``)."""
    lowered = name.lower()
    for suffix in ARCHIVE_SUFFIXES:
        if lowered.endswith(suffix):
            return name[: -len(suffix)]
    return name


def junk_file_reason(name: str) -> str | None:
    """Why a file of this base name is operating-system junk, or ``None``."""
    if name.startswith("._"):
        return "macOS resource fork (AppleDouble ._ file)"
    if name.startswith("~$"):
        return "Office lock file (~$)"
    return _JUNK_FILES.get(name.lower())


def name_problem(name: str) -> str | None:
    """Why a receipt cannot be sent under this base name, or ``None``."""
    if has_controls(name):
        return "file name contains control characters"
    # Four bytes per character at most: short names need no encoding.
    if len(name) > _MAX_NAME_BYTES // 4 and (
        len(name.encode("utf-8", "surrogatepass")) > _MAX_NAME_BYTES
    ):
        return f"file name longer than {_MAX_NAME_BYTES} bytes"
    return None


def junk_dir_reason(name: str) -> str | None:
    """Why a folder of this name holds no receipts, or ``None``."""
    return _JUNK_DIRS.get(name.lower())


def split_member(name: str) -> tuple[str, str]:
    """Split an archive member name into a clean folder path and base name.

    Backslashes count as separators (old Windows tools write them); empty,
    ``.`` and leading ``/`` parts go. ``..`` stays as text: nothing is ever
    extracted, so it cannot escape anywhere.
    """
    if "\\" in name:
        name = name.replace("\\", "/")
    if name.startswith(("/", "./")) or "//" in name or "/./" in name:
        name = "/".join(part for part in name.split("/") if part not in ("", "."))
    folder, _, base = name.rpartition("/")
    return folder, base


def guid_in_parts(parts: list[str]) -> str | None:
    """The GUID in the last of ``parts`` that is one, or ``None``."""
    for part in reversed(parts):
        guid = parse_guid(part)
        if guid is not None:
            return guid
    return None


@lru_cache(maxsize=8192)
def layout_guid(folder: str) -> str | None:
    """The nearest GUID among the components of ``folder`` (``/``-separated).

    Cached because receipts come in runs from the same folder.
    """
    if not folder:
        return None
    return guid_in_parts(folder.split("/"))


@lru_cache(maxsize=8192)
def junk_folder_reason(folder: str) -> str | None:
    """Why any component of ``folder`` makes its content junk, or ``None``."""
    if not folder:
        return None
    for part in folder.split("/"):
        reason = junk_dir_reason(part)
        if reason is not None:
            return reason
    return None
