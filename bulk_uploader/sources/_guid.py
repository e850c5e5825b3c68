"""Recognising the GUIDs that name POS clients, in the spellings people use."""

from __future__ import annotations

__all__ = ["NIL_GUID", "not_a_client", "parse_guid"]

# All zeros: a placeholder some systems write for "no id", never a client.
NIL_GUID = "00000000-0000-0000-0000-000000000000"
_HEX = frozenset("0123456789abcdefABCDEF")
_HYPHENS = (8, 13, 18, 23)


def parse_guid(text: str) -> str | None:
    """Return ``text`` as a lower-case GUID without braces, or ``None``.

    Accepted: ``xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`` in any case, optionally
    in braces and surrounded by white space. The 32-digit form without
    hyphens is refused on purpose: folders named by a hash look the same,
    and so is the nil GUID (all zeros), which names no client.
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
    guid = text.lower()
    return None if guid == NIL_GUID else guid


def not_a_client(text: str) -> str:
    """Why ``text``, refused by ``parse_guid``, names no client: the end of a
    sentence that starts with the text."""
    if text.strip().strip("{}") == NIL_GUID:
        return "is the nil GUID (all zeros), which names no client"
    return "is not a GUID"
