"""Licence tokens in use: cache, single-flight fetch, persistence, the guard.

The licence endpoint blocks callers who ask too often, so this module asks
as rarely as it can: once per (uniqueClientId, accessLicenseId) while a
stored token has more than the refresh margin left, across runs; once for
any number of concurrent first uploads of a client; at the pace of its own
limiter; and never again in this run after the endpoint has answered 429 or
403. Clients that still hold a valid token keep uploading after that.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from functools import partial

import aiohttp
import anyio
from yarl import URL

from bulk_uploader.clock import Clock
from bulk_uploader.errors import LicenceBlocked, LicenceUnavailable
from bulk_uploader.retry import RetryPolicy, parse_retry_after
from bulk_uploader.throttle import TokenBucket

from ._answers import UnreadableAnswer, read_token, server_reason
from ._auth import BearerAuth
from ._flight import FlightGroup, copy_error
from ._http import MAX_ANSWER_BYTES, Answer, TransportFailure, redirect_target, send
from ._settings import CloudSettings
from ._stop import StopGate
from ._tokens import (
    UNKNOWN_EXPIRY_LIFETIME,
    LicenceTokenStore,
    StoredLicenceToken,
    token_expiry,
)

__all__ = ["LICENCE_PATH", "LicenceTokens"]

logger = logging.getLogger(__name__)

LICENCE_PATH = "api/v1.0/licensing/token"

Pair = tuple[str, str]

# A licence call that fails transiently is tried again, but only a little:
# every call counts towards the endpoint's blocking window.
_LICENCE_RETRY = RetryPolicy(max_attempts=3, budget=120.0)
_BLOCK_STATUSES = frozenset({403, 429})


@dataclass(slots=True)
class _PairState:
    """What this run knows about one pair's licence token."""

    token: StoredLicenceToken | None
    # Set when no token can be had for the pair in this run.
    failure: LicenceUnavailable | None = None
    # A refresh inside the margin was tried: do not try again in this run.
    refreshed: bool = False
    # A new token was fetched after an upload rejected the old one.
    replaced: bool = False


@dataclass(frozen=True, slots=True)
class _Halt:
    """Why no licence call is made any more in this run."""

    status: int
    blocked: bool
    retry_at: float | None = None


class LicenceTokens:
    """Gives each upload its client's licence token, asking the cloud rarely."""

    def __init__(
        self,
        settings: CloudSettings,
        *,
        auth: BearerAuth,
        store: LicenceTokenStore,
        clock: Clock,
        rng: random.Random,
        gate: StopGate,
    ) -> None:
        self._settings = settings
        self._gate = gate
        self._session: aiohttp.ClientSession | None = None
        self._flights: FlightGroup[Pair, StoredLicenceToken] | None = None
        self._auth = auth
        self._store = store
        self._clock = clock
        self._rng = rng
        self._url = URL(settings.api_url.rstrip("/") + "/" + LICENCE_PATH)
        self._limiter = TokenBucket(settings.licence_rate, burst=1, clock=clock)
        self._one_call = anyio.Lock()
        self._pairs: dict[Pair, _PairState] = {}
        self._halt: _Halt | None = None
        self.calls = 0
        self.failures = 0

    def __repr__(self) -> str:
        return f"LicenceTokens(pairs={len(self._pairs)}, calls={self.calls})"

    def bind(
        self,
        session: aiohttp.ClientSession,
        flights: FlightGroup[Pair, StoredLicenceToken],
    ) -> None:
        """Use this session, and this group for the shared fetches."""
        self._session = session
        self._flights = flights

    @property
    def blocked(self) -> bool:
        """Whether the licence endpoint blocked us in this run."""
        return self._halt is not None and self._halt.blocked

    @property
    def blocked_status(self) -> int | None:
        """The status the licence endpoint blocked us with, if it did."""
        return (
            self._halt.status if self._halt is not None and self._halt.blocked else None
        )

    @property
    def blocked_until(self) -> float | None:
        """When the block is said to end (Unix time), if the endpoint said."""
        return self._halt.retry_at if self._halt is not None else None

    def carry_over_block(self, *, status: int, until: float) -> None:
        """Honour a block an earlier run was told of: no licence call before ``until``.

        A block lasts longer than one run; a nightly job that knocks again
        the next hour only makes it worse.
        """
        if until > self._clock.time():
            self._halt = _Halt(status, blocked=True, retry_at=until)

    def cached(self, client_id: str, license_id: str) -> StoredLicenceToken | None:
        """The pair's token if it is outside the refresh margin; no network."""
        token = self._state((client_id, license_id)).token
        if token is not None and not self._due(token):
            return token
        return None

    async def get(self, client_id: str, license_id: str) -> StoredLicenceToken:
        """A valid licence token for the pair, fetched only when needed."""
        pair = (client_id, license_id)
        state = self._state(pair)
        token = state.token
        if token is not None and not self._due(token):
            return token
        if state.failure is not None:
            raise copy_error(state.failure)

        usable = token if token is not None and not self._expired(token) else None
        halt = self._halt
        if usable is not None and (state.refreshed or halt is not None):
            return usable
        if halt is not None:
            raise _halt_error(halt, client_id, self._settings.api_host)

        state.refreshed = usable is not None
        return await self._bound_flights().join(
            pair, partial(self._obtain, pair, state, usable)
        )

    async def replace(
        self, rejected: StoredLicenceToken, *, status: int
    ) -> StoredLicenceToken:
        """A new token after an upload with ``rejected`` got 401 or 403.

        Only one replacement per pair and run; when the upload endpoint
        rejects that one too, the pair's uploads fail from then on.
        """
        pair = (rejected.client_id, rejected.license_id)
        state = self._state(pair)
        fetch = partial(self._obtain, pair, state, None)
        if state.failure is not None:
            raise copy_error(state.failure)
        current = state.token
        if current is not None and current.token != rejected.token:
            return current
        flights = self._bound_flights()
        if flights.in_flight(pair):
            return await flights.join(pair, fetch)

        state.token = None
        if state.replaced:
            state.failure = self._rejected_twice(rejected, status)
            raise copy_error(state.failure)
        state.replaced = True
        if self._halt is not None:
            host = self._settings.api_host
            state.failure = _halt_error(self._halt, rejected.client_id, host)
            raise copy_error(state.failure)

        logger.warning(
            "licence token rejected by upload: client=%s status=%d; fetching a new one",
            rejected.client_id,
            status,
        )
        return await flights.join(pair, fetch)

    def _bound_flights(self) -> FlightGroup[Pair, StoredLicenceToken]:
        if self._flights is None:
            raise RuntimeError("use the CloudClient in 'async with'")
        return self._flights

    def _state(self, pair: Pair) -> _PairState:
        state = self._pairs.get(pair)
        if state is None:
            state = _PairState(token=self._store.load_licence_token(*pair))
            self._pairs[pair] = state
        return state

    def _due(self, token: StoredLicenceToken) -> bool:
        margin = self._settings.licence_refresh_margin
        return self._clock.time() >= token.expires_at - margin

    def _expired(self, token: StoredLicenceToken) -> bool:
        return self._clock.time() >= token.expires_at

    async def _obtain(
        self, pair: Pair, state: _PairState, fallback: StoredLicenceToken | None
    ) -> StoredLicenceToken:
        """The flight's work: fetch, keep and save a token, or fall back."""
        try:
            token = await self._fetch(*pair)
        except LicenceUnavailable as exc:
            self.failures += 1
            if fallback is not None and not self._expired(fallback):
                logger.warning(
                    "licence refresh failed, keeping the current token: "
                    "client=%s reason=%s",
                    pair[0],
                    exc,
                )
                return fallback
            state.failure = exc
            raise

        state.token = token
        self._store.save_licence_token(token)
        return token

    async def _fetch(self, client_id: str, license_id: str) -> StoredLicenceToken:
        """One licence token, retried a little when the failure is transient."""
        retry = _LICENCE_RETRY.start(self._clock, self._rng)
        bearer_renewed = False
        while True:
            retry_after = None
            try:
                bearer, answer = await self._call(client_id, license_id)
            except TransportFailure as exc:
                problem = f"could not be reached ({exc.description})"
                if not exc.transient:
                    raise self._unavailable(client_id, license_id, problem) from exc
                status = None
            else:
                if answer.ok:
                    return self._accept(client_id, license_id, answer)
                status = answer.status
                if status == 401 and not bearer_renewed:
                    # The bearer token may have expired early: log on once more.
                    bearer_renewed = True
                    await self._gate.wait(partial(self._auth.renew, bearer))
                    continue
                if status == 401:
                    # Refused right after a fresh logon: asking again for other
                    # clients would only add calls towards a block.
                    self._halt = _Halt(401, blocked=False)
                    logger.warning(
                        "licence endpoint refused a fresh bearer token: "
                        "status=401; no more licence calls in this run"
                    )
                self._raise_if_halted(client_id)
                hide = self._secrets(client_id, license_id, bearer)
                problem = self._problem(answer, hide)
                retry_after = parse_retry_after(
                    answer.retry_after, now=self._clock.time()
                )

            delay = None
            if RetryPolicy.is_retryable(status):
                delay = retry.next_delay(retry_after=retry_after)
            if delay is None:
                raise self._unavailable(client_id, license_id, problem)
            logger.warning(
                "licence retry: client=%s attempt=%d status=%s delay=%.1fs",
                client_id,
                retry.attempts,
                status,
                delay,
            )
            await self._gate.wait(partial(self._clock.sleep, delay))

    async def _call(self, client_id: str, license_id: str) -> tuple[str, Answer]:
        """One licensing/token request at the licence pace; the bearer it used.

        Calls go one at a time, so none is on its way when a block comes
        back: after the first 429 or 403 there is no other call at all.
        Every wait before the call ends at once when the run stops.
        """
        session = self._session
        if session is None:
            raise RuntimeError("use the CloudClient in 'async with'")
        params = {"uniqueClientId": client_id, "accessLicenseId": license_id}
        await self._gate.wait(self._one_call.acquire)
        try:
            await self._gate.wait(self._limiter.acquire)
            bearer = await self._gate.wait(self._auth.token)
            # Checked after every wait: another fetch may have been blocked.
            self._raise_if_halted(client_id)
            self._gate.check()
            self.calls += 1
            headers = {"Authorization": f"Bearer {bearer}"}
            answer = await send(
                session, "GET", self._url, params=params, headers=headers
            )
            if answer.status in _BLOCK_STATUSES:
                self._note_block(answer)
        finally:
            self._one_call.release()
        return bearer, answer

    def _accept(
        self, client_id: str, license_id: str, answer: Answer
    ) -> StoredLicenceToken:
        if not answer.complete:
            problem = (
                f"answered with more than {MAX_ANSWER_BYTES // 1024} KiB, far "
                "more than a licence token; check the API URL"
            )
            raise self._unavailable(client_id, license_id, problem)
        try:
            token = read_token(answer.body)
        except UnreadableAnswer as exc:
            problem = f"sent no licence token ({exc})"
            raise self._unavailable(client_id, license_id, problem) from exc

        now = self._clock.time()
        expires_at = token_expiry(token) or now + UNKNOWN_EXPIRY_LIFETIME
        logger.info(
            "licence token fetched: client=%s licence=%s expires=%s",
            client_id,
            license_id,
            _format_time(expires_at),
        )
        return StoredLicenceToken(
            client_id=client_id,
            license_id=license_id,
            token=token,
            expires_at=expires_at,
            fetched_at=now,
        )

    def _note_block(self, answer: Answer) -> None:
        """Stop all licence calls: the endpoint blocked us."""
        delay = parse_retry_after(answer.retry_after, now=self._clock.time())
        retry_at = None if delay is None else self._clock.time() + delay
        self._halt = _Halt(answer.status, blocked=True, retry_at=retry_at)
        logger.warning(
            "licence endpoint blocked us: status=%d retry_at=%s; "
            "no more licence calls in this run",
            answer.status,
            _format_time(retry_at) if retry_at is not None else "unknown",
        )

    def _raise_if_halted(self, client_id: str) -> None:
        if self._halt is not None:
            raise _halt_error(self._halt, client_id, self._settings.api_host)

    def _problem(self, answer: Answer, hide: tuple[str, ...]) -> str:
        if answer.is_redirect:
            target = redirect_target(answer, hide=hide)
            return (
                f"answered with a redirect to {target}, which is not followed "
                "with a logon token; check the API URL"
            )
        reason = server_reason(answer.body, hide=hide, complete=answer.complete)
        return f"answered HTTP {answer.status}: {reason}"

    def _unavailable(
        self, client_id: str, license_id: str, problem: str
    ) -> LicenceUnavailable:
        return LicenceUnavailable(
            f"No licence token for client {client_id} with licence {license_id}: "
            f"the licence endpoint at {self._settings.api_host} {problem}.",
            client_id=client_id,
        )

    def _rejected_twice(
        self, rejected: StoredLicenceToken, status: int
    ) -> LicenceUnavailable:
        return LicenceUnavailable(
            f"The upload endpoint at {self._settings.functions_host} rejected "
            f"the licence token of client {rejected.client_id} (HTTP {status}) "
            "even after a new one was fetched; no more licence tokens are "
            "requested for this client in this run. Check that licence "
            f"{rejected.license_id} belongs to this client and is active.",
            client_id=rejected.client_id,
        )

    def _secrets(self, client_id: str, license_id: str, bearer: str) -> tuple[str, ...]:
        """Every secret an echo of the pair's call may show, to mask."""
        held = (*self._auth.secrets(), bearer)
        state = self._pairs.get((client_id, license_id))
        if state is None or state.token is None:
            return held
        return (*held, state.token.token)


def _halt_error(halt: _Halt, client_id: str, host: str) -> LicenceUnavailable:
    """The error for a client without a token once licence calls have stopped."""
    if not halt.blocked:
        return LicenceUnavailable(
            f"No licence token for client {client_id}: the licence endpoint "
            f"at {host} refused our logon token even right after a new "
            "logon (HTTP 401), so no more licence tokens are requested in "
            "this run. Check that the API key may request licence tokens.",
            client_id=client_id,
        )
    if halt.retry_at is not None:
        when = f"after {_format_time(halt.retry_at)}"
    else:
        when = "later; the endpoint did not say when, so allow at least an hour"
    return LicenceBlocked(
        f"No licence token for client {client_id}: the licence endpoint at "
        f"{host} blocked us (HTTP {halt.status}) for asking too often, so no "
        f"more licence tokens are requested in this run. Try again {when}.",
        client_id=client_id,
        retry_at=halt.retry_at,
    )


def _format_time(when: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(when))
