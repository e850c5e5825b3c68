"""The cloud client: logon, licence tokens and receipt uploads for one run."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from functools import partial
from types import TracebackType
from typing import NamedTuple

import aiohttp
import anyio
from anyio.abc import TaskGroup
from yarl import URL

from bulk_uploader.clock import Clock, SystemClock
from bulk_uploader.errors import UploadFailed
from bulk_uploader.retry import RetryPolicy, RetryState, parse_retry_after
from bulk_uploader.throttle import AdaptiveLimiter

from ._answers import server_reason
from ._auth import BearerAuth
from ._flight import FlightGroup
from ._form import content_type_for, file_disposition, receipt_form
from ._http import Answer, TransportFailure, open_session, redirect_target, send
from ._licences import LicenceTokens
from ._settings import CloudSettings
from ._stop import StopGate
from ._tokens import LicenceTokenStore, StoredLicenceToken

__all__ = ["UPLOAD_PATH", "CloudClient", "CloudStatistics"]

logger = logging.getLogger(__name__)

UPLOAD_PATH = "api/digitalReceipt"
_TOKEN_REJECTED = frozenset({401, 403})


class _Failure(NamedTuple):
    """An attempt that may succeed when repeated."""

    status: int | None
    problem: str
    retry_after: float | None


@dataclass(frozen=True, slots=True)
class CloudStatistics:
    """A snapshot of what the client did so far in this run.

    ``uploads_attempted`` counts receipts sent at least once, ``retries``
    the extra attempts, ``throttled`` the 429 answers to uploads.
    ``current_rate`` is the upload limit in requests per second (``None``:
    unlimited). ``blocked`` says whether the licence endpoint blocked us,
    ``blocked_until`` when it said the block ends (Unix time), if it did,
    and ``blocked_status`` with which status (429 or 403).
    """

    logons: int
    licence_calls: int
    licence_failures: int
    uploads_attempted: int
    uploads_ok: int
    retries: int
    throttled: int
    current_rate: float | None
    blocked: bool
    blocked_until: float | None
    blocked_status: int | None = None


class CloudClient:
    """Talks to the cloud for one run; use it as an async context manager.

    Entering opens one pooled HTTP session and a task group that owns the
    shared logon and licence fetches; leaving cancels those and closes the
    session. ``logon`` checks the credentials before any upload.
    """

    def __init__(
        self,
        settings: CloudSettings,
        *,
        token_store: LicenceTokenStore,
        clock: Clock | None = None,
    ) -> None:
        self._settings = settings
        self._clock: Clock = clock or SystemClock()
        rng = random.Random()
        self._rng = rng
        self._policy: RetryPolicy = settings.retry_policy()
        self._upload_url = URL(settings.functions_url.rstrip("/") + "/" + UPLOAD_PATH)
        self._limiter = AdaptiveLimiter(
            ceiling=settings.rate, burst=settings.burst, clock=self._clock
        )
        self._gate = StopGate()
        self._auth = BearerAuth(settings, clock=self._clock, rng=rng, gate=self._gate)
        self._licences = LicenceTokens(
            settings,
            auth=self._auth,
            store=token_store,
            clock=self._clock,
            rng=rng,
            gate=self._gate,
        )
        self._session: aiohttp.ClientSession | None = None
        self._task_group: TaskGroup | None = None
        self._uploads_attempted = 0
        self._uploads_ok = 0
        self._retries = 0
        self._throttled = 0

    def __repr__(self) -> str:
        return (
            f"CloudClient(api={self._settings.api_host!r}, "
            f"functions={self._settings.functions_host!r})"
        )

    async def __aenter__(self) -> CloudClient:
        if self._session is not None:
            raise RuntimeError("a CloudClient can be entered only once")
        session = open_session(self._settings)
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._session = session
        self._task_group = task_group
        self._auth.bind(session, FlightGroup(task_group))
        self._licences.bind(session, FlightGroup(task_group))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        task_group, session = self._task_group, self._session
        if task_group is None or session is None:
            return
        try:
            # Fetches still running serve nobody once the run is over. The
            # error of the caller's block is not the task group's: passing it
            # on would wrap it in an ExceptionGroup instead of letting it pass.
            task_group.cancel_scope.cancel()
            await task_group.__aexit__(None, None, None)
        finally:
            await session.close()

    async def logon(self) -> None:
        """Log on with the key and secret.

        Raises ``AuthenticationError`` if they are refused, ``CloudUnavailable``
        when the API cannot be reached or keeps failing, ``CloudError`` when
        it answers with something other than a bearer token.
        """
        await self._auth.token()

    def stop_new_requests(self) -> None:
        """Send no new request from now on; requests already sent finish.

        Uploads, licence fetches and logons that have not sent their request
        yet (waiting for the rate limiter, a licence token or a retry) raise
        ``UploadNotStarted`` at once, and so does every later ``upload``.
        """
        self._gate.stop()

    def carry_over_licence_block(self, *, status: int, until: float) -> None:
        """Make no licence call before ``until``: an earlier run was blocked."""
        self._licences.carry_over_block(status=status, until=until)

    def cached_licence(
        self, client_id: str, license_id: str
    ) -> StoredLicenceToken | None:
        """The pair's licence token if usable without a refresh; no network."""
        return self._licences.cached(client_id, license_id)

    async def upload(
        self, *, client_id: str, license_id: str, name: str, data: bytes
    ) -> None:
        """Send one receipt, retrying what is transient; raise if it fails.

        Raises ``LicenceUnavailable`` (or ``LicenceBlocked``) when the client
        has no licence token in this run, ``UploadFailed`` when the receipt
        was refused or the retries ran out, and ``UploadNotStarted`` when
        ``stop_new_requests`` came before the receipt was sent.
        """
        session = self._session
        if session is None:
            raise RuntimeError("use the CloudClient in 'async with'")
        gate = self._gate
        licence = self._licences.cached(client_id, license_id)
        if licence is None:
            licence = await gate.wait(
                partial(self._licences.get, client_id, license_id)
            )
        disposition = file_disposition(name)
        content_type = content_type_for(name)
        retry = self._policy.start(self._clock, self._rng)
        sent = False

        while True:
            generation = await gate.wait(self._limiter.acquire)
            body, body_type = receipt_form(
                client_id=client_id,
                token=licence.token,
                disposition=disposition,
                content_type=content_type,
                data=data,
            )
            headers = {"Content-Type": body_type}
            gate.check()
            if not sent:
                sent = True
                self._uploads_attempted += 1
            try:
                answer = await send(
                    session, "POST", self._upload_url, data=body, headers=headers
                )
            except TransportFailure as exc:
                if not exc.transient:
                    raise UploadFailed(
                        f"The upload endpoint at {self._settings.functions_host} "
                        f"could not be reached ({exc.description}).",
                        permanent=False,
                    ) from exc
                failure = _Failure(None, exc.description, None)
            else:
                if answer.ok:
                    self._limiter.on_success()
                    self._uploads_ok += 1
                    return
                if answer.status in _TOKEN_REJECTED:
                    licence = await gate.wait(
                        partial(self._licences.replace, licence, status=answer.status)
                    )
                    continue
                failure = self._failure(answer, licence, generation)

            await self._wait_to_retry(retry, failure, client_id=client_id, name=name)

    def statistics(self) -> CloudStatistics:
        """What the client did so far: calls, uploads, retries, rate, block."""
        return CloudStatistics(
            logons=self._auth.logons,
            licence_calls=self._licences.calls,
            licence_failures=self._licences.failures,
            uploads_attempted=self._uploads_attempted,
            uploads_ok=self._uploads_ok,
            retries=self._retries,
            throttled=self._throttled,
            current_rate=self._limiter.rate,
            blocked=self._licences.blocked,
            blocked_until=self._licences.blocked_until,
            blocked_status=self._licences.blocked_status,
        )

    def _failure(
        self, answer: Answer, licence: StoredLicenceToken, generation: int
    ) -> _Failure:
        """What a refused upload means; raises when retrying cannot help."""
        status = answer.status
        if status == 429:
            self._throttled += 1
            self._limiter.on_throttled(generation)

        hide = (*self._auth.secrets(), licence.token)
        if answer.is_redirect:
            problem = (
                f"HTTP {status}, a redirect to {redirect_target(answer, hide=hide)}, "
                "which is not followed with a licence token; check the functions URL"
            )
        else:
            reason = server_reason(answer.body, hide=hide, complete=answer.complete)
            problem = f"HTTP {status}: {reason}"
        if not RetryPolicy.is_retryable(status):
            raise UploadFailed(
                f"The cloud refused the receipt ({problem}).",
                status=status,
                permanent=True,
            )

        retry_after = parse_retry_after(answer.retry_after, now=self._clock.time())
        return _Failure(status, problem, retry_after)

    async def _wait_to_retry(
        self, retry: RetryState, failure: _Failure, *, client_id: str, name: str
    ) -> None:
        """Sleep before the next attempt; raise when the retries are used up."""
        delay = retry.next_delay(retry_after=failure.retry_after)
        if delay is None:
            raise UploadFailed(
                f"The receipt was not accepted after {retry.attempts} attempts; "
                f"the last answer was {failure.problem}.",
                status=failure.status,
                permanent=False,
            )

        self._retries += 1
        # INFO, not WARNING: a run of a million receipts meets thousands of
        # passing faults; the summary counts them, -v shows each one.
        logger.info(
            "upload retry: client=%s name=%r attempt=%d status=%s delay=%.2fs "
            "reason=%s",
            client_id,
            name,
            retry.attempts,
            failure.status,
            delay,
            failure.problem,
        )
        await self._gate.wait(partial(self._clock.sleep, delay))
