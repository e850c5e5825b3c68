"""The HTTP layer: one pooled session, one request helper, no redirects.

Every request goes through ``send``, which never follows a redirect (a
redirect would carry the Authorization header or the licence token to a
host nobody configured), reads at most ``MAX_ANSWER_BYTES`` of the answer
(a broken or hostile server may stream gigabytes), and turns aiohttp's
errors into ``TransportFailure`` with a description that says what went
wrong in plain words and quotes nothing the server sent.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from bulk_uploader import __version__

from ._answers import mask_secrets
from ._settings import CloudSettings

__all__ = [
    "MAX_ANSWER_BYTES",
    "Answer",
    "TransportFailure",
    "open_session",
    "redirect_target",
    "send",
]

# Tokens and error messages are a few kilobytes at most; anything longer is
# not read, so memory stays flat whatever a server sends.
MAX_ANSWER_BYTES = 64 * 1024

_USER_AGENT = f"bulk_uploader/{__version__}"
_MAX_DESCRIPTION = 160
_MAX_HOST = 100
# What OpenSSL says when the other side answers a ClientHello in plain text.
_NOT_TLS = frozenset({"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "HTTP_REQUEST"})


class TransportFailure(Exception):
    """No answer came: the connection failed, dropped or timed out.

    ``transient`` is false for failures another try will not mend, such as
    an untrusted TLS certificate.
    """

    def __init__(self, description: str, *, transient: bool) -> None:
        super().__init__(description)
        self.description = description
        self.transient = transient


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer; ``complete`` is false when ``body`` is only its start."""

    status: int
    body: bytes
    retry_after: str | None
    location: str | None
    complete: bool = True

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def is_redirect(self) -> bool:
        return 300 <= self.status < 400


def open_session(settings: CloudSettings) -> aiohttp.ClientSession:
    """The run's session: a bounded pool, timeouts, TLS checked, no cookies."""
    connector = aiohttp.TCPConnector(limit=settings.concurrency, ssl=True)
    # No total timeout: a large receipt on a slow line may take long, as long
    # as bytes keep moving. Waiting for a free pooled connection is not
    # limited either; the pool is as large as the number of upload tasks.
    timeout = aiohttp.ClientTimeout(
        total=None,
        connect=None,
        sock_connect=settings.connect_timeout,
        sock_read=settings.read_timeout,
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        cookie_jar=aiohttp.DummyCookieJar(),
        headers={"User-Agent": _USER_AGENT},
        trust_env=False,
    )


async def send(
    session: aiohttp.ClientSession, method: str, url: str | URL, **kwargs: Any
) -> Answer:
    """Make one request without following redirects, and read its answer.

    At most ``MAX_ANSWER_BYTES`` of the body are read; a longer answer's
    connection is closed instead of drained.
    """
    try:
        async with session.request(
            method, url, allow_redirects=False, **kwargs
        ) as response:
            body = await _read_capped(response.content, MAX_ANSWER_BYTES + 1)
            complete = len(body) <= MAX_ANSWER_BYTES
            if not complete:
                response.close()
            return Answer(
                status=response.status,
                body=body[:MAX_ANSWER_BYTES],
                retry_after=response.headers.get("Retry-After"),
                location=response.headers.get("Location"),
                complete=complete,
            )
    except (aiohttp.ClientSSLError, ssl.SSLError) as exc:
        raise TransportFailure(_describe(exc), transient=False) from exc
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise TransportFailure(_describe(exc), transient=True) from exc


async def _read_capped(content: aiohttp.StreamReader, limit: int) -> bytes:
    """Up to ``limit`` bytes of a body: fewer only when the body ends first."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def redirect_target(answer: Answer, *, hide: Iterable[str] = ()) -> str:
    """The host a redirect points to, for a message.

    Never its user, password, path or query, which may carry a token, and
    the host itself is masked too: a hostile server can put a token there.
    """
    if not answer.location:
        return "an unnamed location"
    try:
        url = URL(answer.location)
        host = url.host
        port = url.explicit_port
    except ValueError:
        return "an unreadable location"
    if not host:
        return "another path on the same host"

    label = f"{host}:{port}" if port else host
    label = mask_secrets(label, hide)
    if len(label) > _MAX_HOST:
        label = label[: _MAX_HOST - 1] + "…"
    return label


def _describe(exc: BaseException) -> str:
    """What went wrong, in words a person can act on.

    aiohttp's own texts for a malformed answer quote the server's bytes,
    which may echo a token, so those get a fixed phrase instead.
    """
    cause = _cause_of(exc)
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        error = exc.certificate_error
        detail = getattr(error, "verify_message", None) or error
        return f"the TLS certificate is not trusted ({_short(detail)})"
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
        reason = str(getattr(cause, "reason", None) or type(cause).__name__)
        if reason in _NOT_TLS:
            return "TLS handshake failed (the server answered without TLS: plain http?)"
        return f"TLS handshake failed ({_short(reason.replace('_', ' ').lower())})"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "the host name was not found"
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return "the connection timed out"
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection without an answer"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the answer was cut off"
    if isinstance(exc, aiohttp.ClientResponseError):
        return "the answer was not valid HTTP"
    if isinstance(cause, OSError) and cause.strerror:
        return f"network error ({_short(cause.strerror).lower()})"
    return _short(type(exc).__name__)


def _cause_of(exc: BaseException) -> BaseException:
    """The operating system's or ssl's error behind an aiohttp error."""
    inner = getattr(exc, "os_error", None)
    return inner if isinstance(inner, BaseException) else exc


def _short(value: object) -> str:
    return " ".join(str(value).split())[:_MAX_DESCRIPTION]
