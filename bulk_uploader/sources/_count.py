"""Counting what a walk will yield, from folder listings and zip directories.

The count drives a progress bar's total, so it must cost little: folders
are listed without opening a file, zips are counted from their central
directory, and no receipt is read. It follows the walker's rules entry by
entry (every file, link, junk folder or unlistable folder is one item;
directory entries of a zip are none), so for folders and zips it equals
what the walk yields. A tar archive the walk would open makes the count
``None``: a tar has no directory, and counting a compressed one means
decompressing all of it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from ._filters import PathFilter
from ._paths import archive_kind, junk_dir_reason, junk_file_reason
from ._zipreader import DamagedArchive, ZipReader

__all__ = ["count_items"]


class _NotCheap(Exception):
    """A tar archive is to be opened: only reading it all would count it."""


def count_items(roots: Sequence[str], path_filter: PathFilter) -> int | None:
    """How many items walking ``roots`` yields, or ``None`` if a tar is there.

    Never raises for I/O problems: what the walk would report as one
    ``Unusable`` (a folder it cannot list, an archive it cannot open) is
    counted as one, and a zip damaged part way as its entries up to the
    damage plus one.
    """
    try:
        return sum(_count_root(root, path_filter) for root in roots)
    except _NotCheap:
        return None


def _count_root(root: str, path_filter: PathFilter) -> int:
    if os.path.isdir(root):
        return _count_tree(root, path_filter)
    return _count_archive(root)


def _count_tree(root: str, path_filter: PathFilter) -> int:
    # A list of folders still to list instead of recursion: one listing is
    # open at a time, and no depth of nesting can exhaust the stack.
    count = 0
    pending = [(root, "")]
    while pending:
        folder, rel = pending.pop()
        subfolders: list[tuple[str, str]] = []
        try:
            with os.scandir(folder) as listing:
                found = sum(
                    _count_entry(entry, rel, subfolders, path_filter)
                    for entry in listing
                )
        except OSError:
            # The walk reports a folder it cannot list, even part way, as
            # one unusable entry, and looks no further into it.
            count += 1
            continue
        count += found
        pending.extend(subfolders)
    return count


def _count_entry(
    entry: os.DirEntry[str],
    rel: str,
    subfolders: list[tuple[str, str]],
    path_filter: PathFilter,
) -> int:
    """The items one folder entry yields; a folder to enter is added to
    ``subfolders`` and counted when it is listed."""
    name = entry.name
    entry_rel = f"{rel}/{name}" if rel else name
    try:
        if entry.is_symlink():
            return 1
        if entry.is_dir(follow_symlinks=False):
            if junk_dir_reason(name) is None:
                subfolders.append((entry.path, entry_rel))
                return 0
            return 1
        if (
            entry.is_file(follow_symlinks=False)
            and junk_file_reason(name) is None
            and archive_kind(name) is not None
            and path_filter.excluded(entry_rel, name) is None
        ):
            return _count_archive(entry.path)
    except OSError:
        pass  # the walk reports the entry as one unusable item
    # A receipt, junk, a filtered file or something not regular: one each.
    return 1


def _count_archive(path: str) -> int:
    if archive_kind(path) != "zip":
        raise _NotCheap(path)
    try:
        reader = ZipReader(path)
    except DamagedArchive:
        return 1
    count = 0
    with reader:
        try:
            for kind in reader.kinds():
                if kind != "dir":
                    count += 1
        except DamagedArchive:
            count += 1
    return count
