"""How to reach the cloud: credentials, base URLs, pool size, rates and retries."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from yarl import URL

from bulk_uploader.errors import ConfigError
from bulk_uploader.retry import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_RETRY_AFTER_CAP,
    DEFAULT_RETRY_BUDGET,
    RetryPolicy,
)
from bulk_uploader.throttle import DEFAULT_BURST

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_BURST",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_FUNCTIONS_URL",
    "DEFAULT_LICENCE_RATE",
    "DEFAULT_LICENCE_REFRESH_MARGIN",
    "DEFAULT_READ_TIMEOUT",
    "CloudSettings",
    "check_base_url",
]

DEFAULT_API_URL = "https://api.retailforce.cloud"
DEFAULT_FUNCTIONS_URL = "https://functions.retailforce.cloud"
DEFAULT_CONCURRENCY = 16
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 60.0
DEFAULT_LICENCE_REFRESH_MARGIN = 86400.0
# The licence endpoint blocks callers who ask too often, so its calls are
# spaced far apart; one call serves a client for thirty days.
DEFAULT_LICENCE_RATE = 0.2


@dataclass(frozen=True, kw_only=True)
class CloudSettings:
    """Everything the cloud client needs; the repr shows no credential.

    Empty credentials are allowed (a dry run needs none); ``logon`` then
    fails. ``rate`` is a ceiling for uploads per second (``None``: no fixed
    ceiling, only slowing down after 429s). ``licence_rate`` paces calls to
    the licence endpoint. ``licence_refresh_margin`` is how long before its
    expiry a licence token is replaced. ``max_attempts``, ``retry_budget``
    (seconds per receipt) and ``retry_after_cap`` bound the retries.
    """

    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)
    api_url: str = DEFAULT_API_URL
    functions_url: str = DEFAULT_FUNCTIONS_URL
    concurrency: int = DEFAULT_CONCURRENCY
    rate: float | None = None
    burst: int = DEFAULT_BURST
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    licence_refresh_margin: float = DEFAULT_LICENCE_REFRESH_MARGIN
    licence_rate: float = DEFAULT_LICENCE_RATE
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    retry_budget: float = DEFAULT_RETRY_BUDGET
    retry_after_cap: float = DEFAULT_RETRY_AFTER_CAP

    def __post_init__(self) -> None:
        check_base_url(self.api_url, "API URL")
        check_base_url(self.functions_url, "functions URL")
        _check_positive("concurrency", self.concurrency)
        _check_positive("burst", self.burst)
        _check_positive("connect timeout", self.connect_timeout)
        _check_positive("read timeout", self.read_timeout)
        _check_positive("licence rate", self.licence_rate)
        _check_positive("attempt count", self.max_attempts)
        if self.rate is not None:
            _check_positive("rate", self.rate)
        if self.licence_refresh_margin < 0 or self.retry_budget < 0:
            raise ConfigError("The refresh margin and retry budget must be >= 0.")
        if self.retry_after_cap < 0:
            raise ConfigError("The Retry-After cap must be >= 0.")

    @property
    def api_host(self) -> str:
        """The API host as a person would name it, for messages."""
        return _host_label(URL(self.api_url))

    @property
    def functions_host(self) -> str:
        """The upload host as a person would name it, for messages."""
        return _host_label(URL(self.functions_url))

    def retry_policy(self) -> RetryPolicy:
        """The retry policy for one upload."""
        return RetryPolicy(
            max_attempts=self.max_attempts,
            budget=self.retry_budget,
            retry_after_cap=self.retry_after_cap,
        )


def check_base_url(value: str, what: str) -> URL:
    """Parse a base URL; refuse plain http except to this machine.

    Credentials and tokens travel to these URLs, so they must be encrypted
    unless they never leave the machine. A URL carrying a user name or
    password, a query or a fragment is refused too: it would end up in logs.
    """
    try:
        url = URL(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"The {what} is not a URL.") from exc
    # The value itself is not echoed: a mistyped URL may hold a password.
    if url.scheme not in ("https", "http") or not url.host:
        raise ConfigError(
            f"The {what} must start with https:// (or http:// to this machine) "
            "and name a host, like https://api.retailforce.cloud."
        )
    if url.user is not None or url.password is not None:
        raise ConfigError(f"The {what} must not contain a user name or password.")
    if url.query_string or url.fragment:
        raise ConfigError(f"The {what} must not contain a query or fragment.")
    if url.scheme == "http" and not is_loopback(url.host):
        raise ConfigError(
            f"The {what} uses plain http:// to {url.host}; use https:// "
            "(plain http is allowed only for 127.0.0.1, ::1 and localhost)."
        )

    return url


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine: localhost, 127.0.0.0/8 or ::1."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_label(url: URL) -> str:
    host = url.host or "?"
    if url.explicit_port:
        return f"{host}:{url.port}"
    return host


def _check_positive(what: str, value: float) -> None:
    if not value > 0:
        raise ConfigError(f"The {what} must be greater than zero; got {value}.")
