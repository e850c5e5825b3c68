"""The HTTP layer: one pooled session, one request helper, no redirects.

Every request goes through ``send``, which never follows a redirect (a
redirect would carry the Authorization header or the licence token to a
host nobody configured), reads the whole answer so the connection can be
reused, and turns aiohttp's errors into ``TransportFailure`` with a
description that holds no URL query and no token.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from bulk_uploader import __version__

from ._settings import CloudSettings

__all__ = ["Answer", "TransportFailure", "open_session", "redirect_target", "send"]

_USER_AGENT = f"bulk_uploader/{__version__}"
_MAX_DESCRIPTION = 160


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
    """An HTTP answer, read completely."""

    status: int
    body: bytes
    retry_after: str | None
    location: str | None

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
    """Make one request without following redirects, and read its answer."""
    try:
        async with session.request(
            method, url, allow_redirects=False, **kwargs
        ) as response:
            body = await response.read()
            return Answer(
                status=response.status,
                body=body,
                retry_after=response.headers.get("Retry-After"),
                location=response.headers.get("Location"),
            )
    except (aiohttp.ClientSSLError, ssl.SSLError) as exc:
        raise TransportFailure(_describe(exc), transient=False) from exc
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise TransportFailure(_describe(exc), transient=True) from exc


def redirect_target(answer: Answer) -> str:
    """The host a redirect points to, for a message; never its path or query."""
    if not answer.location:
        return "an unnamed location"
    try:
        host = URL(answer.location).host
    except ValueError:
        host = None
    return host or "another path on the same host"


def _describe(exc: BaseException) -> str:
    # aiohttp's messages name the host and port at most; the request URLs
    # carry no secret, but the text is still cut short and kept to one line.
    name = type(exc).__name__
    detail = " ".join(str(exc).split())
    if isinstance(exc, TimeoutError) and not detail:
        detail = "no answer in time"
    text = f"{name}: {detail}" if detail else name
    return text[:_MAX_DESCRIPTION]
