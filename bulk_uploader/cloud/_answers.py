"""Reading what the cloud answers: tokens in any shape, and reasons fit to show."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

__all__ = ["TOKEN_KEYS", "UnreadableAnswer", "read_token", "server_reason"]

# Where a JSON object answer may keep the token, in order of preference.
TOKEN_KEYS = ("token", "accessToken", "access_token")

# Where a JSON error answer usually keeps its human-readable part.
_REASON_KEYS = ("message", "detail", "title", "error_description", "error", "reason")

_MAX_REASON = 200
# Anything shaped like a JWT, whoever it belongs to, is not shown.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
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


def server_reason(body: bytes, *, hide: Iterable[str] = ()) -> str:
    """A short, single-line, secret-free reason from an error answer.

    JSON answers give their message field; other answers their text. Every
    string in ``hide`` (tokens, the secret) and anything shaped like a JWT is
    masked, control characters are removed and the result is truncated.
    """
    text = body.decode("utf-8", errors="replace").strip()
    try:
        value: object = json.loads(text)
    except ValueError:
        value = text

    if isinstance(value, dict):
        text = next((str(value[key]) for key in _REASON_KEYS if value.get(key)), text)
    elif isinstance(value, str):
        text = value

    for secret in hide:
        if secret:
            text = text.replace(secret, "***")
    text = _JWT.sub("***", text)
    text = _SPACES.sub(" ", _CONTROL.sub(" ", text)).strip()
    if len(text) > _MAX_REASON:
        text = text[: _MAX_REASON - 1] + "…"

    return text or "no reason given"
