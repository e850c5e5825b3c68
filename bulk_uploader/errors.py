"""The errors of bulk_uploader, and the exit code each one stands for.

    BulkUploaderError                 exit 1, the base of everything below
    ├── ConfigError                   exit 2: options, config files, paths
    ├── SourceError                   an input that cannot be used
    │   ├── ManifestError             exit 2: a manifest or clients file is unusable
    │   └── UnreadableReceipt         one receipt's bytes cannot be read
    ├── JournalError                  the state file
    │   └── JournalLocked             exit 2: another run holds the state file
    └── CloudError                    anything the cloud answered or failed to
        ├── CloudUnavailable          exit 6: the cloud cannot be reached, or
        │                             keeps failing; the next run continues
        ├── UploadNotStarted          a stop was asked for before this upload's
        │                             request went out; the next run sends it
        ├── AuthenticationError       exit 3: key or secret refused
        ├── LicenceUnavailable        no licence token for one client
        │   └── LicenceBlocked        exit 4: the licence endpoint blocked us
        └── UploadFailed              one receipt was not accepted

Third-party errors (aiohttp, sqlite3, PyJWT, zipfile, tarfile) are turned
into these where they enter, with the original kept as ``__cause__``.
Messages are for people: they say what happened and what to check, and they
never contain a key, a secret or a token.
"""

from __future__ import annotations

__all__ = [
    "EXIT_AUTH",
    "EXIT_BLOCKED",
    "EXIT_FAILURES",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TIME_LIMIT",
    "EXIT_UNAVAILABLE",
    "EXIT_USAGE",
    "AuthenticationError",
    "BulkUploaderError",
    "CloudError",
    "CloudUnavailable",
    "ConfigError",
    "JournalError",
    "JournalLocked",
    "LicenceBlocked",
    "LicenceUnavailable",
    "ManifestError",
    "SourceError",
    "UnreadableReceipt",
    "UploadFailed",
    "UploadNotStarted",
]

EXIT_OK = 0
EXIT_FAILURES = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_BLOCKED = 4
EXIT_TIME_LIMIT = 5
EXIT_UNAVAILABLE = 6
EXIT_INTERRUPTED = 130


class BulkUploaderError(Exception):
    """Base of every error this package raises on purpose."""

    exit_code: int = EXIT_FAILURES

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(BulkUploaderError):
    """An option, a configuration file or a path the user gave is wrong."""

    exit_code = EXIT_USAGE


class SourceError(BulkUploaderError):
    """An input (folder, archive, manifest) cannot be used."""


class ManifestError(SourceError):
    """A manifest or clients file cannot be used at all."""

    exit_code = EXIT_USAGE


class UnreadableReceipt(SourceError):
    """The bytes of one receipt cannot be read (corrupt, encrypted, vanished)."""


class JournalError(BulkUploaderError):
    """The state file cannot be opened, read or written."""

    exit_code = EXIT_USAGE


class JournalLocked(JournalError):
    """Another run is using the same state file."""


class CloudError(BulkUploaderError):
    """The cloud refused a request, or could not be reached."""


class CloudUnavailable(CloudError):
    """The cloud cannot be reached, or keeps failing: stop, try again later."""

    exit_code = EXIT_UNAVAILABLE


class UploadNotStarted(CloudError):
    """The run is stopping: this upload was not sent, the next run sends it."""


class AuthenticationError(CloudError):
    """The API key or secret was refused at logon."""

    exit_code = EXIT_AUTH


class LicenceUnavailable(CloudError):
    """No licence token can be had for one client in this run."""

    def __init__(self, message: str, *, client_id: str) -> None:
        super().__init__(message)
        self.client_id = client_id


class LicenceBlocked(LicenceUnavailable):
    """The licence endpoint answered 429 or 403: we stop asking in this run.

    ``retry_at`` is a Unix time after which asking again is reasonable, when
    the endpoint said so (``Retry-After``), else ``None``.
    """

    exit_code = EXIT_BLOCKED

    def __init__(
        self, message: str, *, client_id: str, retry_at: float | None = None
    ) -> None:
        super().__init__(message, client_id=client_id)
        self.retry_at = retry_at


class UploadFailed(CloudError):
    """One receipt was not accepted.

    ``status`` is the HTTP status of the last answer (``None`` when no answer
    came). ``permanent`` says whether sending the same bytes again could ever
    succeed: a 413 cannot, a 503 after the retry budget could, tomorrow.
    """

    def __init__(
        self, message: str, *, status: int | None = None, permanent: bool
    ) -> None:
        super().__init__(message)
        self.status = status
        self.permanent = permanent
