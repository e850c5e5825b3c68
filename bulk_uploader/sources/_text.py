"""Turning bytes of unknown encoding into text without losing a character."""

from __future__ import annotations

import codecs
import re

__all__ = [
    "decode_lenient",
    "escape_controls",
    "has_controls",
    "quote",
    "repair_name",
    "shorten",
]

_C1_FALLBACK = "bulk_uploader.c1"
# C0 and C1 controls and DEL move the cursor, ring, recolour or cut text on
# a terminal; lone surrogates (undecodable bytes of a file name) cannot be
# written as UTF-8 to a report or the journal.
_UNSHOWABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _as_c1_controls(error: UnicodeError) -> tuple[str, int]:
    # Windows-1252 leaves five bytes undefined; Latin-1 maps them to the C1
    # controls, which keeps every byte as one character instead of failing.
    if not isinstance(error, UnicodeDecodeError):
        raise error
    undefined = error.object[error.start : error.end]
    return bytes(undefined).decode("latin-1"), error.end


codecs.register_error(_C1_FALLBACK, _as_c1_controls)


def decode_lenient(data: bytes) -> tuple[str, str]:
    """Decode ``data`` as UTF-8, else as Windows-1252; return text and codec."""
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("cp1252", _C1_FALLBACK), "cp1252"


def repair_name(name: str, legacy: str) -> str:
    """Make an archive member name readable text.

    ``name`` was decoded by the archive library with ``legacy`` (``cp437``
    for zip names without the UTF-8 flag, ``utf-8`` with surrogate escapes
    for tar). Many tools write UTF-8 without saying so, so the raw bytes are
    tried as UTF-8 first; otherwise Windows-1252, which covers what is left.
    """
    if name.isascii():
        return name
    raw = name.encode(legacy, "surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        if legacy == "cp437":
            return name
        return raw.decode("cp1252", _C1_FALLBACK)


def shorten(text: str, limit: int = 60) -> str:
    """``text`` cut to at most ``limit`` characters, marked when cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def quote(value: object, limit: int = 60) -> str:
    """``value`` quoted for a message: ``repr`` (so printable), and short."""
    return shorten(repr(value), limit)


def has_controls(text: str) -> bool:
    """Whether ``text`` holds a control character or a lone surrogate."""
    # isprintable() is the cheap test that nearly every name passes.
    return not text.isprintable() and _UNSHOWABLE.search(text) is not None


def escape_controls(text: str) -> str:
    """``text`` with each control character or lone surrogate written as an
    escape (``\\x1b``, ``\\udcfc``), as ``repr`` would; other text unchanged."""
    if text.isprintable():
        return text
    return _UNSHOWABLE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    return repr(match.group())[1:-1]
