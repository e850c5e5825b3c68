"""Logging set-up for the CLI, with a last line of defence against leaks.

Secrets are kept out of log records where the text is built (the cloud
client never formats a token into a message). The filter here is the second
line: whatever reaches a handler is scrubbed of anything shaped like a JWT
and of the configured secret, so a mistake elsewhere does not end up in a
log file that is mailed around.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable

from bulk_uploader.cloud._answers import MIN_SECRET_LENGTH
from bulk_uploader.errors import ConfigError

__all__ = ["RedactingFilter", "redact", "setup_logging"]

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
REDACTED = "[redacted]"
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with JWT-shaped strings and the given secrets replaced."""
    text = _JWT.sub(REDACTED, text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    """Formats each record once and scrubs the result before any handler sees it."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets: tuple[str, ...] = ()
        self.add_secrets(secrets)

    def add_secrets(self, secrets: Iterable[str]) -> None:
        """Scrub these too, from now on (secrets learnt after start-up)."""
        # Very short strings would scrub ordinary words; real keys are long.
        fresh = {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}
        self._secrets = tuple(sorted(set(self._secrets) | fresh, key=len, reverse=True))

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message, self._secrets)
        if record.exc_info and record.exc_info[1] is not None:
            # The traceback text is built later by the formatter; scrub the
            # exception's own message now, where it can still be reached.
            exc = record.exc_info[1]
            exc.args = tuple(
                redact(str(arg), self._secrets) if isinstance(arg, str) else arg
                for arg in exc.args
            )
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


def setup_logging(
    *, verbosity: int, log_file: str | None, secrets: Iterable[str] = ()
) -> RedactingFilter:
    """Console at WARNING (``-v`` INFO, ``-vv`` DEBUG, ``-q`` ERROR), file at DEBUG."""
    level = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(
        max(-1, min(verbosity, 2)), logging.DEBUG
    )
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.DEBUG if log_file else level)

    redactor = RedactingFilter(secrets)
    console = logging.StreamHandler()
    console.setLevel(level)
    # The console is read by people: no module names (the log file has them).
    console.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    console.addFilter(redactor)
    root.addHandler(console)

    if log_file:
        try:
            fd = os.open(log_file, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
            os.close(fd)
            file_handler = logging.FileHandler(log_file, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"--log-file {log_file}: cannot write it: {exc.strerror}."
            ) from exc
        file_handler.setLevel(logging.DEBUG)
        file_handler.setFormatter(logging.Formatter(LOG_FORMAT))
        file_handler.addFilter(redactor)
        root.addHandler(file_handler)

    # aiohttp's access and client loggers say nothing a user needs at DEBUG
    # and would drown the run's own lines.
    logging.getLogger("aiohttp").setLevel(max(level, logging.INFO))
    return redactor
