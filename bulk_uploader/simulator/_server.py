"""The simulated RetailForce cloud: the three calls of the contract over aiohttp.

Status codes where the contract leaves a choice (see API-CONTRACT.md):

* logon: 400 without ``key`` or ``secret``, 401 for a wrong pair.
* licensing/token: 401 without a valid bearer token, 400 without both query
  parameters, 404 for a (uniqueClientId, accessLicenseId) pair that does
  not exist (not 403, so that a client can tell it from a block), and
  ``block_status`` (429 with ``Retry-After``, or 403) while the caller is
  blocked. Every call that names a uniqueClientId counts in
  ``licence_calls``, whatever its answer, and every call with a valid
  bearer token counts towards the caller's limit.
* digitalReceipt, checked in this order: 429 above ``upload_rate_limit``;
  400 for a malformed request; an injected fault or dropped connection;
  413 above ``max_body_size``; 401 for a licence token that is garbled,
  not ours or expired, 403 for one that is revoked or issued for another
  uniqueClientId; else 200. ``latency`` delays every one of these answers.
  An upload whose client disconnects before its body is complete is
  counted under status 499 (the code nginx uses for "client closed request").
"""

from __future__ import annotations

import asyncio
import logging
import random
from types import TracebackType
from typing import Self

from aiohttp import hdrs, web
from aiohttp.http_exceptions import HttpProcessingError

from ..clock import Clock, SystemClock
from ._config import SimulatorConfig
from ._form import CLIENT_FIELD, FormError, read_upload_form
from ._limits import LicenceGate, UploadThrottle, retry_after_value
from ._stats import CLIENT_GONE, DROPPED, Ledger, ReceivedReceipt, SimulatorStats
from ._tokens import TokenIssuer, TokenRejected

__all__ = [
    "LICENCE_PATH",
    "LOGON_PATH",
    "RESET_PATH",
    "STATS_PATH",
    "UPLOAD_PATH",
    "Simulator",
]

logger = logging.getLogger(__name__)

LOGON_PATH = "/api/v1.0/authenticate/logon"
LICENCE_PATH = "/api/v1.0/licensing/token"
UPLOAD_PATH = "/api/digitalReceipt"
STATS_PATH = "/_simulator/stats"
RESET_PATH = "/_simulator/reset"

_ACCEPTED = b'{"accepted":true}'
# Long enough for a loaded CI machine, short enough not to stall test teardown.
_SHUTDOWN_TIMEOUT = 2.0


_ASK_FOR_BEARER = {"WWW-Authenticate": "Bearer"}


def _text(
    status: int, reason: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(status=status, text=reason, headers=headers)


class Simulator:
    """A local stand-in for both RetailForce hosts, on one port.

    Use it as an async context manager; ``url`` is the base for the API host
    and the functions host alike. All state lives on the event loop that
    entered it; see ``SimulatorThread`` for use from other threads.
    """

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
    ) -> None:
        self.config = config if config is not None else SimulatorConfig()
        self._host = host
        self._port = port
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._rng = random.Random(self.config.seed)
        self._ledger = Ledger()
        self._issuer = TokenIssuer()
        self._gate = LicenceGate()
        self._throttle = UploadThrottle()
        self._auto_revoked = False
        self._runner: web.AppRunner | None = None
        self.url = ""

    def __repr__(self) -> str:
        return f"Simulator(url={self.url!r}, config={self.config!r})"

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Listen on ``host:port`` (port 0: any free port) and set ``url``."""
        app = web.Application()
        app.router.add_post(LOGON_PATH, self._logon)
        app.router.add_get(LICENCE_PATH, self._licence)
        app.router.add_post(UPLOAD_PATH, self._upload)
        app.router.add_get(STATS_PATH, self._stats_page)
        app.router.add_post(RESET_PATH, self._reset_page)

        # No access log: it costs more than the upload handler itself under
        # load, and it would print licence tokens sent as query parameters.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        await site.start()
        self._runner = runner

        port = runner.addresses[0][1]
        host = f"[{self._host}]" if ":" in self._host else self._host
        self.url = f"http://{host}:{port}"
        logger.info("simulator listening on %s", self.url)

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    def stats(self) -> SimulatorStats:
        """A snapshot of the counters; later calls do not change it."""
        return self._ledger.stats()

    def received(self) -> list[ReceivedReceipt]:
        """Every accepted upload so far, oldest first."""
        return self._ledger.received()

    def reset(self) -> None:
        """Forget counters, received receipts, blocks and the upload rate.

        Issued tokens stay valid (or revoked); ``revoke_after_uploads``
        counts again from zero, and fault injection starts over from
        ``config.seed``.
        """
        self._rng = random.Random(self.config.seed)
        self._ledger.clear()
        self._gate.clear()
        self._throttle.clear()
        self._auto_revoked = False

    def revoke(self, client_id: str | None = None) -> None:
        """Revoke the licence tokens issued so far, for one client or all."""
        self._issuer.revoke(client_id)

    def _answer(self, token: str) -> web.Response:
        shape = self.config.answer_shape
        if shape == "text":
            return web.Response(text=token, content_type="text/plain")
        if shape == "object":
            return web.json_response({self.config.object_key: token})

        return web.json_response(token)

    async def _logon(self, request: web.Request) -> web.Response:
        response = await self._logon_answer(request)
        self._ledger.count_call("logon", response.status)
        return response

    async def _logon_answer(self, request: web.Request) -> web.Response:
        try:
            form = await request.post()
        except (ValueError, AssertionError, RuntimeError) as exc:
            return _text(400, f"malformed form body: {exc}")
        except HttpProcessingError as exc:
            return _text(400, f"malformed form body: {exc.message}")
        key, secret = form.get("key"), form.get("secret")
        if not isinstance(key, str) or not isinstance(secret, str):
            return _text(400, "form fields 'key' and 'secret' are required")

        expected = self.config.credentials.get(key)
        if expected is None or expected != secret:
            return _text(401, "unknown API key or wrong secret")

        lifetime = self.config.bearer_lifetime if self.config.bearer_has_exp else None
        return self._answer(
            self._issuer.issue_bearer(key, self._clock.time(), lifetime)
        )

    async def _licence(self, request: web.Request) -> web.Response:
        response = self._licence_answer(request)
        self._ledger.count_call("licence", response.status)
        return response

    def _licence_answer(self, request: web.Request) -> web.Response:
        config = self.config
        client_id = request.query.get(CLIENT_FIELD)
        licence_id = request.query.get("accessLicenseId")
        if client_id:
            self._ledger.count_licence_call(client_id)

        scheme, _, bearer = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
        if scheme.lower() != "bearer" or not bearer.strip():
            return _text(401, "a bearer token is required", _ASK_FOR_BEARER)
        try:
            key = self._issuer.verify_bearer(bearer.strip(), self._clock.time())
        except TokenRejected as exc:
            return _text(401, str(exc), _ASK_FOR_BEARER)
        if key not in config.credentials:
            return _text(401, "the API key of this bearer token is gone")

        wait = self._gate.admit(
            key,
            self._clock.monotonic(),
            limit=config.licence_limit,
            window=config.licence_window,
            duration=config.block_duration,
        )
        if wait > 0:
            return self._blocked(wait)

        if not client_id or not licence_id:
            return _text(400, "uniqueClientId and accessLicenseId are required")
        if (
            config.licences is not None
            and (client_id, licence_id) not in config.licences
        ):
            return _text(404, "no such licence for this uniqueClientId")

        lifetime = config.licence_lifetime if config.licence_has_exp else None
        token = self._issuer.issue_licence(
            client_id, licence_id, self._clock.time(), lifetime
        )
        return self._answer(token)

    def _blocked(self, wait: float) -> web.Response:
        reason = "too many licence token requests: this caller is blocked"
        if self.config.block_status == 403:
            return _text(403, reason)

        retry_after = retry_after_value(wait, self._clock.time(), "seconds")
        return _text(429, reason, {hdrs.RETRY_AFTER: retry_after})

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        try:
            response = await self._upload_answer(request)
        except ConnectionError:
            # The client went away mid-body (killed, or cancelled its upload):
            # nothing to answer, and nothing worth a traceback in the log.
            self._ledger.count_call("upload", CLIENT_GONE)
            return self._drop(request)
        self._ledger.count_call(
            "upload", DROPPED if response is None else response.status
        )

        config = self.config
        delay = config.latency
        if config.latency_jitter > 0:
            delay += self._rng.uniform(0.0, config.latency_jitter)
        if delay > 0:
            await asyncio.sleep(delay)

        if response is None:
            return self._drop(request)
        return response

    async def _upload_answer(self, request: web.Request) -> web.Response | None:
        config = self.config
        wait = self._throttle.admit(config.upload_rate_limit, self._clock.monotonic())
        if wait > 0:
            fmt = config.retry_after_format
            retry_after = retry_after_value(wait, self._clock.time(), fmt)
            return _text(
                429, "upload rate limit exceeded", {hdrs.RETRY_AFTER: retry_after}
            )

        try:
            form = await read_upload_form(request)
        except FormError as exc:
            return _text(400, str(exc))

        # One roll decides both, so the two shares never overlap.
        roll = self._rng.random()
        fault_share = config.fault_rate if config.fault_statuses else 0.0
        if roll < fault_share:
            return _text(self._rng.choice(config.fault_statuses), "injected fault")
        if roll < fault_share + config.drop_rate:
            return None

        if config.max_body_size is not None and form.size > config.max_body_size:
            return _text(413, f"the file is larger than {config.max_body_size} bytes")

        now = self._clock.time()
        try:
            self._issuer.verify_licence(form.licence_token, form.client_id, now)
        except TokenRejected as exc:
            return _text(exc.status, str(exc))

        self._ledger.accept(
            form.client_id, form.name, form.size, form.digest, now, form.token_in_form
        )
        limit = config.revoke_after_uploads
        # Once only: a client that fetched fresh tokens may then go on.
        if (
            limit is not None
            and not self._auto_revoked
            and self._ledger.accepted >= limit
        ):
            self._auto_revoked = True
            self._issuer.revoke()
        return web.Response(body=_ACCEPTED, content_type="application/json")

    def _drop(self, request: web.Request) -> web.StreamResponse:
        transport = request.transport
        if transport is not None:
            transport.abort()
        # The transport is gone, so aiohttp cannot send this; it only has to
        # be a valid return value.
        return web.Response(status=204)

    async def _stats_page(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats().to_dict())

    async def _reset_page(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"reset": True})
