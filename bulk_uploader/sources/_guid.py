"""Recognising the GUIDs that name POS clients, in the spellings people use."""

from __future__ import annotations

__all__ = ["parse_guid"]

_HEX = frozenset("0123456789abcdefABCDEF")
_HYPHENS = (8, 13, 18, 23)


def parse_guid(text: str) -> str | None:
    """Return ``text`` as a lower-case GUID without braces, or ``None``.

    Accepted: ``xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`` in any case, optionally
    in braces and surrounded by white space. The 32-digit form without
    hyphens is refused on purpose: folders named by a hash look the same.
    """
    # Length first: nearly every path component fails here, without a scan.
    if len(text) != 36:
        text = text.strip()
        if len(text) == 38 and text[0] == "{" and text[-1] == "}":
            text = text[1:-1]
        if len(text) != 36:
            return None
    for at in _HYPHENS:
        if text[at] != "-":
            return None
    digits = text.replace("-", "")
    if len(digits) != 32 or not _HEX.issuperset(digits):
        return None
    return text.lower()
