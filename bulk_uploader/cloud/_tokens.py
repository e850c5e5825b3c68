"""Licence tokens at rest: the stored form, the store interface, and expiry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import jwt

__all__ = [
    "UNKNOWN_EXPIRY_LIFETIME",
    "LicenceTokenStore",
    "MemoryTokenStore",
    "StoredLicenceToken",
    "token_expiry",
]

# The documented lifetime of a licence token, assumed when its exp is unreadable.
UNKNOWN_EXPIRY_LIFETIME = 30 * 86400.0


@dataclass(frozen=True)
class StoredLicenceToken:
    """A licence token for one (uniqueClientId, accessLicenseId) pair.

    ``expires_at`` and ``fetched_at`` are Unix times. The token itself is a
    secret and stays out of the repr.
    """

    client_id: str
    license_id: str
    token: str = field(repr=False)
    expires_at: float
    fetched_at: float


class LicenceTokenStore(Protocol):
    """Where licence tokens outlive a run; the journal is the real one.

    Both methods are called from the event loop, so they must be quick.
    """

    def load_licence_token(
        self, client_id: str, license_id: str
    ) -> StoredLicenceToken | None:
        """The token saved for this pair, if any (expired ones included)."""

    def save_licence_token(self, token: StoredLicenceToken) -> None:
        """Keep ``token``, replacing any earlier one for its pair."""


class MemoryTokenStore:
    """A store that forgets everything when the process ends (tests, dry runs)."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str], StoredLicenceToken] = {}

    def __repr__(self) -> str:
        return f"MemoryTokenStore(tokens={len(self._tokens)})"

    def load_licence_token(
        self, client_id: str, license_id: str
    ) -> StoredLicenceToken | None:
        return self._tokens.get((client_id, license_id))

    def save_licence_token(self, token: StoredLicenceToken) -> None:
        self._tokens[(token.client_id, token.license_id)] = token


def token_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT as a Unix time, or ``None`` if unreadable.

    The signature is not checked: the cloud checks it; the client only needs
    to know when to stop using the token.
    """
    try:
        claims = jwt.decode(
            token, options={"verify_signature": False, "verify_exp": False}
        )
    except jwt.PyJWTError:
        return None

    exp = claims.get("exp")
    # bool is an int in Python, and no server means True as a time.
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        return None
    return float(exp)
