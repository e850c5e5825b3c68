"""The user's --include and --exclude globs."""

from __future__ import annotations

import fnmatch
import re

__all__ = ["PathFilter"]


def _compile(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    # One combined expression: a single match per entry, however many globs.
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))


class PathFilter:
    """Decides which receipts the user asked for.

    A glob matches an entry when it matches its base name or its path inside
    the source named on the command line, written as in ``origin``
    (``sub/day.zip:pos-1/r.json``). Matching is case-sensitive on every
    system, and ``*`` also matches ``/``. A receipt is taken when it matches
    some ``--include`` (or none were given) and no ``--exclude``.
    """

    def __init__(self, include: tuple[str, ...], exclude: tuple[str, ...]) -> None:
        self._include_patterns = include
        self._exclude_patterns = exclude
        self._include = _compile(include)
        self._exclude = _compile(exclude)

    def excluded(self, path: str, name: str) -> str | None:
        """The reason an ``--exclude`` glob drops this entry, or ``None``."""
        if self._exclude is None:
            return None
        if not (self._exclude.match(name) or self._exclude.match(path)):
            return None
        for pattern in self._exclude_patterns:
            if fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(path, pattern):
                return f"excluded by --exclude {pattern!r}"
        return "excluded by --exclude"

    def rejected(self, path: str, name: str) -> str | None:
        """The reason this receipt is not taken, or ``None`` when it is."""
        if self._include is not None and not (
            self._include.match(name) or self._include.match(path)
        ):
            return "matches no --include"
        return self.excluded(path, name)
