"""Reading what the cloud answers: tokens in any shape, and reasons fit to show."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

__all__ = [
    "TOKEN_KEYS",
    "UnreadableAnswer",
    "mask_secrets",
    "read_token",
    "server_reason",
]

# Where a JSON object answer may keep the token, in order of preference.
TOKEN_KEYS = ("token", "accessToken", "access_token")

# Where a JSON error answer usually keeps its human-readable part.
_REASON_KEYS = ("message", "detail", "title", "error_description", "error", "reason")

_MAX_REASON = 200
# Anything shaped like a JWT, whoever it belongs to, is not shown; a JWT cut
# short by a capped answer still starts with a JSON header in base64.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){0,2}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_SPACES = re.compile(r"\s+")
# A token is printable ASCII without spaces; this also keeps an HTML error
# page or a sentence from being taken for one.
_TOKEN_TEXT = re.compile(r"[\x21-\x7e]+")


class UnreadableAnswer(ValueError):
    """The answer holds no token; the message describes it without quoting it."""


def read_token(body: bytes) -> str:
    """The token in an answer: bare text, a JSON string, or a JSON object.

    The object may hold the token under any of ``TOKEN_KEYS``.
    """
    try:
        text = body.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise UnreadableAnswer("the answer is not UTF-8 text") from exc
    if not text:
        raise UnreadableAnswer("the answer is empty")

    try:
        value: object = json.loads(text)
    except ValueError:
        value = text

    if isinstance(value, dict):
        found = next(
            (value[key] for key in TOKEN_KEYS if isinstance(value.get(key), str)),
            None,
        )
        if found is None:
            keys = ", ".join(TOKEN_KEYS)
            raise UnreadableAnswer(f"the JSON answer has none of the fields {keys}")
        value = found
    if not isinstance(value, str):
        raise UnreadableAnswer(f"the answer is a JSON {type(value).__name__}")

    token = value.strip()
    if not _TOKEN_TEXT.fullmatch(token):
        raise UnreadableAnswer("the answer is not a single token")
    return token


def server_reason(
    body: bytes, *, hide: Iterable[str] = (), complete: bool = True
) -> str:
    """A short, single-line, secret-free reason from an error answer.

    JSON answers give their message field; other answers their text. Every
    string in ``hide`` (tokens, the secret), also in its percent- and
    JSON-encoded forms, and anything shaped like a JWT is masked, control
    characters are removed and the result is truncated. ``complete=False``
    says that ``body`` is the start of a longer answer: it may end in the
    first part of a secret, so a tail as long as the longest secret is cut.
    """
    secrets = _secret_forms(hide)
    text = body.decode("utf-8", errors="replace")
    if not complete:
        text = text[: len(text) - max(map(len, secrets), default=0)] + " …"
    text = text.strip()
    try:
        value: object = json.loads(text)
    except ValueError:
        value = text

    if isinstance(value, dict):
        text = next((str(value[key]) for key in _REASON_KEYS if value.get(key)), text)
    elif isinstance(value, str):
        text = value

    # Masked before and after spaces are folded: a secret may hold spaces,
    # and folding may join what a server split with control characters.
    text = _mask(text, secrets)
    text = _SPACES.sub(" ", _CONTROL.sub(" ", text)).strip()
    text = _JWT.sub("***", _mask(text, secrets))
    if len(text) > _MAX_REASON:
        text = text[: _MAX_REASON - 1] + "…"

    return text or "no reason given"


MIN_SECRET_LENGTH = 8


def mask_secrets(text: str, hide: Iterable[str]) -> str:
    """``text`` with each secret in ``hide``, in any encoding or case, masked."""
    return _JWT.sub("***", _mask(text, _secret_forms(hide)))


def _secret_forms(hide: Iterable[str]) -> list[str]:
    """Each secret as an echo may show it: raw, percent- or JSON-encoded.

    A form body or a query string arrives percent-encoded, a JSON error
    body escapes quotes and non-ASCII, and a host name is lower-cased.
    """
    forms: set[str] = set()
    for secret in hide:
        # Shorter strings are words, not secrets: masking "wrong" would
        # garble the server's own text and give the secret away by context.
        if len(secret) < MIN_SECRET_LENGTH:
            continue
        forms.update(
            (
                secret,
                quote(secret, safe=""),
                quote_plus(secret, safe=""),
                json.dumps(secret)[1:-1],
                json.dumps(secret, ensure_ascii=False)[1:-1],
            )
        )
    return sorted(forms, key=len, reverse=True)


def _mask(text: str, forms: list[str]) -> str:
    if not forms:
        return text
    pattern = "|".join(re.escape(form) for form in forms)
    return re.sub(pattern, "***", text, flags=re.IGNORECASE)
