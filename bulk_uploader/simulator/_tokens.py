"""Bearer and licence tokens: HS256 JWTs signed with a per-simulator secret."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import jwt

__all__ = ["LicenceClaims", "TokenIssuer", "TokenRejected"]

_ALGORITHM = "HS256"
_BEARER = "bearer"
_LICENCE = "licence"


class TokenRejected(Exception):
    """A token the simulator will not accept; the message is safe to show.

    ``status`` is 401 for a token that is not (or no longer) valid at all,
    403 for a valid token that may not be used for this request.
    """

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class LicenceClaims:
    """The parts of a verified licence token that uploads are checked against."""

    client_id: str
    jti: str
    expires_at: float | None


class TokenIssuer:
    """Signs and verifies tokens, and remembers which licence tokens it revoked.

    Verified licence tokens are cached by their text, so an upload costs a
    dict lookup instead of an HMAC; expiry and revocation are still checked
    on every use.
    """

    def __init__(self) -> None:
        # 32 bytes: PyJWT warns about shorter HMAC keys.
        self._secret = secrets.token_bytes(32)
        self._issued: dict[str, list[str]] = {}
        self._revoked: set[str] = set()
        self._verified: dict[str, LicenceClaims] = {}

    def __repr__(self) -> str:
        return f"TokenIssuer(issued={sum(map(len, self._issued.values()))})"

    def issue_bearer(self, key: str, now: float, lifetime: float | None) -> str:
        claims: dict[str, Any] = {"sub": key, "kind": _BEARER}
        return self._sign(claims, now, lifetime)

    def issue_licence(
        self,
        client_id: str,
        licence_id: str,
        now: float,
        lifetime: float | None,
    ) -> str:
        jti = secrets.token_hex(8)
        claims: dict[str, Any] = {
            "uniqueClientId": client_id,
            "accessLicenseId": licence_id,
            "kind": _LICENCE,
            "jti": jti,
        }
        self._issued.setdefault(client_id, []).append(jti)
        return self._sign(claims, now, lifetime)

    def verify_bearer(self, token: str, now: float) -> str:
        """The API key a valid bearer token was issued for."""
        claims = self._decode(token, _BEARER)
        _check_expiry(claims.get("exp"), now)
        key = claims.get("sub")
        if not isinstance(key, str):
            raise TokenRejected("bearer token has no subject")

        return key

    def verify_licence(self, token: str, client_id: str, now: float) -> None:
        """Pass if ``token`` lets ``client_id`` upload now; else TokenRejected."""
        licence = self._verified.get(token)
        if licence is None:
            licence = self._verify_new_licence(token)
            self._verified[token] = licence
        if licence.expires_at is not None:
            _check_expiry(licence.expires_at, now)
        if licence.jti in self._revoked:
            raise TokenRejected("licence token has been revoked", 403)
        if licence.client_id != client_id:
            raise TokenRejected("licence token belongs to another uniqueClientId", 403)

    def revoke(self, client_id: str | None = None) -> int:
        """Revoke every licence token issued so far (for one client or all)."""
        if client_id is None:
            jtis = [jti for issued in self._issued.values() for jti in issued]
        else:
            jtis = list(self._issued.get(client_id, ()))
        self._revoked.update(jtis)

        return len(jtis)

    def _sign(self, claims: dict[str, Any], now: float, lifetime: float | None) -> str:
        claims["iat"] = int(now)
        claims.setdefault("jti", secrets.token_hex(8))
        if lifetime is not None:
            claims["exp"] = int(now + lifetime)

        return jwt.encode(claims, self._secret, algorithm=_ALGORITHM)

    def _decode(self, token: str, kind: str) -> dict[str, Any]:
        try:
            # Expiry is checked against the simulator's own (injectable) clock.
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[_ALGORITHM],
                options={"verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError as exc:
            raise TokenRejected(f"{kind} token is not valid") from exc
        if claims.get("kind") != kind:
            raise TokenRejected(f"not a {kind} token")

        return claims

    def _verify_new_licence(self, token: str) -> LicenceClaims:
        claims = self._decode(token, _LICENCE)
        client_id = claims.get("uniqueClientId")
        jti = claims.get("jti")
        exp = claims.get("exp")
        if not isinstance(client_id, str) or not isinstance(jti, str):
            raise TokenRejected("licence token lacks its claims")

        return LicenceClaims(
            client_id=client_id,
            jti=jti,
            expires_at=float(exp) if isinstance(exp, int | float) else None,
        )


def _check_expiry(exp: object, now: float) -> None:
    if isinstance(exp, int | float) and now >= exp:
        raise TokenRejected("token has expired")
