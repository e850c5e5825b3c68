"""The bearer token: logon with key and secret, renewal, one logon at a time."""

from __future__ import annotations

import logging
import random
from functools import partial

import aiohttp
from yarl import URL

from bulk_uploader.clock import Clock
from bulk_uploader.errors import AuthenticationError, CloudError, CloudUnavailable
from bulk_uploader.retry import RetryPolicy

from ._answers import UnreadableAnswer, read_token, server_reason
from ._flight import FlightGroup, copy_error
from ._http import MAX_ANSWER_BYTES, Answer, TransportFailure, redirect_target, send
from ._settings import CloudSettings
from ._stop import StopGate
from ._tokens import token_expiry

__all__ = ["BearerAuth"]

logger = logging.getLogger(__name__)

LOGON_PATH = "api/v1.0/authenticate/logon"
# Renew this long before the bearer token's exp, so no call carries a token
# that expires on the way.
_RENEW_MARGIN = 60.0
# Statuses with which the API says that the key or secret is wrong.
_REFUSED = frozenset({400, 401, 403})


class BearerAuth:
    """Holds the bearer token and gets a new one when it is due.

    ``token`` returns a usable bearer token, logging on when there is none
    or when it expires soon; ``renew`` replaces one the API rejected. Either
    way there is exactly one logon in flight however many tasks ask.
    """

    def __init__(
        self,
        settings: CloudSettings,
        *,
        clock: Clock,
        rng: random.Random,
        gate: StopGate,
    ) -> None:
        self._settings = settings
        self._gate = gate
        self._session: aiohttp.ClientSession | None = None
        self._flights: FlightGroup[str, str] | None = None
        self._clock = clock
        self._rng = rng
        self._url = URL(settings.api_url.rstrip("/") + "/" + LOGON_PATH)
        self._token: str | None = None
        self._expires_at: float | None = None
        # Once the credentials are refused, every later ask gets the same
        # answer without another logon.
        self._refused: AuthenticationError | None = None
        self.logons = 0

    def __repr__(self) -> str:
        return f"BearerAuth(host={self._settings.api_host!r}, logons={self.logons})"

    def bind(
        self, session: aiohttp.ClientSession, flights: FlightGroup[str, str]
    ) -> None:
        """Use this session, and this group for the shared logon."""
        self._session = session
        self._flights = flights

    async def token(self) -> str:
        """A bearer token that will not expire in the next minute."""
        token = self._token
        if token is not None and (
            self._expires_at is None
            or self._clock.time() < self._expires_at - _RENEW_MARGIN
        ):
            return token

        if self._refused is not None:
            raise copy_error(self._refused)
        if self._flights is None:
            raise RuntimeError("use the CloudClient in 'async with'")
        return await self._flights.join("logon", self._logon)

    async def renew(self, rejected: str) -> str:
        """A new bearer token after the API answered 401 to ``rejected``."""
        if self._token == rejected:
            self._token = None
        return await self.token()

    def secrets(self) -> tuple[str, ...]:
        """Every secret held now, for masking: key, secret, the bearer token."""
        held = (self._settings.api_key, self._settings.api_secret)
        return held if self._token is None else (*held, self._token)

    async def _logon(self) -> str:
        try:
            return await self._logon_with_retries()
        except AuthenticationError as exc:
            self._refused = exc
            raise

    async def _logon_with_retries(self) -> str:
        session = self._session
        if session is None:
            raise RuntimeError("use the CloudClient in 'async with'")
        retry = RetryPolicy(max_attempts=4, budget=60.0).start(self._clock, self._rng)
        host = self._settings.api_host
        if not self._settings.api_key or not self._settings.api_secret:
            raise AuthenticationError(
                f"No API key or API secret to log on at {host} with. Give both "
                "(see --help for the environment variables and options)."
            )
        form = {"key": self._settings.api_key, "secret": self._settings.api_secret}
        while True:
            self._gate.check()
            self.logons += 1
            cause: TransportFailure | None = None
            try:
                answer = await send(session, "POST", self._url, data=form)
            except TransportFailure as exc:
                cause, problem = exc, exc.description
                if not exc.transient:
                    raise self._unavailable(problem, retried=False) from exc
                status = None
            else:
                if answer.ok:
                    return self._accept(answer)
                if answer.status in _REFUSED:
                    raise self._refused_error(answer)
                if answer.is_redirect:
                    raise self._redirect_error(answer)
                status = answer.status
                reason = server_reason(
                    answer.body, hide=self.secrets(), complete=answer.complete
                )
                problem = f"HTTP {status}: {reason}"

            if not RetryPolicy.is_retryable(status):
                raise CloudError(
                    f"Cannot log on at {host}: {problem}. Check the API URL."
                )
            delay = retry.next_delay()
            if delay is None:
                raise self._unavailable(problem, retried=True) from cause
            logger.warning(
                "logon retry: attempt=%d status=%s delay=%.1fs reason=%s",
                retry.attempts,
                status,
                delay,
                problem,
            )
            await self._gate.wait(partial(self._clock.sleep, delay))

    def _unavailable(self, problem: str, *, retried: bool) -> CloudUnavailable:
        """The API cannot be reached, or kept failing: a later run may succeed."""
        tries = " (tried several times)" if retried else ""
        return CloudUnavailable(
            f"Cannot reach the API at {self._settings.api_host} to log on: "
            f"{problem}{tries}. Check the API URL and that this machine can "
            "reach it; the next run continues where this one stopped."
        )

    def _accept(self, answer: Answer) -> str:
        if not answer.complete:
            raise CloudError(
                f"The API at {self._settings.api_host} answered the logon with "
                f"more than {MAX_ANSWER_BYTES // 1024} KiB, far more than a "
                "bearer token. Check the API URL."
            )
        try:
            token = read_token(answer.body)
        except UnreadableAnswer as exc:
            raise CloudError(
                f"The API at {self._settings.api_host} accepted the logon but "
                f"sent no bearer token ({exc}). Check the API URL."
            ) from exc

        self._token = token
        self._expires_at = token_expiry(token)
        logger.info("logged on: host=%s", self._settings.api_host)
        return token

    def _refused_error(self, answer: Answer) -> AuthenticationError:
        reason = server_reason(
            answer.body, hide=self.secrets(), complete=answer.complete
        )
        return AuthenticationError(
            f"The API at {self._settings.api_host} refused the logon "
            f"(HTTP {answer.status}: {reason}). Check the API key and API secret "
            "of your distributor account, and that the API URL points to the "
            "right system (production or staging)."
        )

    def _redirect_error(self, answer: Answer) -> CloudError:
        return CloudError(
            f"The API at {self._settings.api_host} answered the logon with a "
            f"redirect to {redirect_target(answer, hide=self.secrets())}; "
            "credentials are never sent after a redirect. Check the API URL."
        )
