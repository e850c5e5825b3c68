"""Reading the field name and file name out of a form part's Content-Disposition.

Clients put a non-ASCII file name on the wire in one of three ways, and the
simulator must record the name exactly as the client meant it:

* ``filename*=UTF-8''%C3%A4.json`` (RFC 5987 / RFC 6266 extended value);
* ``filename="%C3%A4.json"``: aiohttp's client percent-encodes the whole
  name (including ``%`` itself) inside a quoted string;
* ``filename="ä.json"``: raw UTF-8, as browsers and urllib3 send it, with
  only ``"``, CR and LF percent-encoded (the WHATWG form encoding).

aiohttp's own server-side parser returns the aiohttp form undecoded and
strips leading slashes, hence this small parser of our own.
"""

from __future__ import annotations

import codecs
import re
from urllib.parse import unquote

__all__ = ["DispositionError", "parse_form_disposition"]


class DispositionError(ValueError):
    """The Content-Disposition header cannot be understood."""


# One `; name=value` parameter; the value a token or a quoted string.
_PARAM = re.compile(
    r"""\s*;\s*
    (?P<key>[^\s=;]+)\s*=\s*
    (?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<token>[^\s;"]*))
    \s*""",
    re.VERBOSE | re.DOTALL,
)
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_WHATWG_ESCAPES = {"%22": '"', "%0D": "\r", "%0A": "\n", "%0d": "\r", "%0a": "\n"}


def parse_form_disposition(header: str | None) -> tuple[str, str | None]:
    """The form field's name and, for a file part, its file name."""
    if not header:
        raise DispositionError("a form part has no Content-Disposition header")

    disposition, _, rest = header.partition(";")
    if disposition.strip().lower() != "form-data":
        raise DispositionError("a form part is not form-data")

    params = _parse_params(";" + rest if rest else "")
    name = params.get("name")
    if name is None:
        raise DispositionError("a form part has no field name")

    if "filename*" in params:
        return name, _decode_extended(params["filename*"])
    if "filename" in params:
        return name, _decode_plain(params["filename"])

    return name, None


def _parse_params(text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    # Some clients end the header with a stray `;`.
    text = text.rstrip().rstrip(";")
    pos = 0
    while pos < len(text):
        match = _PARAM.match(text, pos)
        if match is None:
            raise DispositionError("Content-Disposition parameters are malformed")
        quoted = match.group("quoted")
        if quoted is not None:
            value = _ESCAPE.sub(r"\1", quoted)
        else:
            value = match.group("token")
        params[match.group("key").lower()] = value
        pos = match.end()

    return params


def _decode_extended(value: str) -> str:
    charset, sep, rest = value.partition("'")
    _language, sep2, encoded = rest.partition("'")
    if not sep or not sep2:
        raise DispositionError("filename* is not charset'language'value")
    try:
        # unquote only consults the codec when there is a %XX to decode.
        codecs.lookup(charset or "utf-8")
        return unquote(encoded, encoding=charset or "utf-8", errors="strict")
    except (LookupError, UnicodeDecodeError) as exc:
        raise DispositionError("filename* cannot be decoded") from exc


def _decode_plain(value: str) -> str:
    if not value.isascii():
        # Raw UTF-8 from a browser-style client: only WHATWG's escapes apply.
        return _PERCENT.sub(lambda m: _WHATWG_ESCAPES.get(m.group(), m.group()), value)
    if "%" not in value:
        return value
    try:
        return unquote(value, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        # Not aiohttp's percent-encoding after all: the name is literal.
        return value
