"""Servers that misbehave on purpose: echoed secrets, endless answers, no answer.

The simulator plays a well-behaved cloud, so these tests start small
aiohttp servers of their own on 127.0.0.1 that do what a broken proxy or a
hostile endpoint might: quote the request's secrets back in an error, stream
an answer without end, or not be there at all.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote_plus

import anyio
import pytest
from aiohttp import web
from helpers import LICENCE_PATH, LOGON_PATH, UPLOAD_PATH, cloud_settings

from bulk_uploader.clock import FakeClock
from bulk_uploader.cloud import CloudClient, CloudSettings, MemoryTokenStore
from bulk_uploader.cloud._http import MAX_ANSWER_BYTES
from bulk_uploader.errors import (
    EXIT_UNAVAILABLE,
    CloudError,
    CloudUnavailable,
    LicenceUnavailable,
    UploadFailed,
    UploadNotStarted,
)
from bulk_uploader.simulator import Simulator

pytestmark = pytest.mark.anyio

KEY = "hostile-key"
SECRET = "Sëcret+/&=Zq9"
BEARER = "OPAQUEBEARERxyz987"
LICENCE_TOKEN = "OPAQUELICENCEabc123"
LICENCE = "licence-1"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def serve(routes: Mapping[str, Handler]) -> AsyncIterator[str]:
    """Run ``routes`` on a free loopback port; yield the base URL."""
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_route("*", path, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def client_of(
    routes: Mapping[str, Handler], clock: FakeClock | None = None, **overrides: Any
) -> AsyncIterator[CloudClient]:
    """A cloud client whose API and functions URLs both point at ``routes``."""
    async with (
        serve(routes) as url,
        CloudClient(
            settings_for(url, **overrides), token_store=MemoryTokenStore(), clock=clock
        ) as cloud,
    ):
        yield cloud


def settings_for(url: str, **overrides: Any) -> CloudSettings:
    """The canary credentials against a server of the test's own."""
    return cloud_settings(url, api_key=KEY, api_secret=SECRET, **overrides)


async def opaque_bearer(request: web.Request) -> web.Response:
    return web.Response(text=BEARER)


async def opaque_licence(request: web.Request) -> web.Response:
    return web.Response(text=LICENCE_TOKEN)


async def upload_one(cloud: CloudClient) -> None:
    await cloud.upload(client_id="pos-a", license_id=LICENCE, name="r.json", data=b"{}")


def assert_no_secret(text: str) -> None:
    """Neither credential nor token, in any case or encoding, is in ``text``."""
    lowered = text.lower()
    for secret in (SECRET, quote_plus(SECRET), "zq9", BEARER, LICENCE_TOKEN):
        assert secret.lower() not in lowered


# -- secrets echoed back -----------------------------------------------------


async def test_licence_error_echoing_the_bearer_token_is_masked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A licence endpoint quoting our Authorization header: the bearer is masked."""
    caplog.set_level(logging.DEBUG)

    async def echo_authorization(request: web.Request) -> web.Response:
        seen = request.headers.get("Authorization", "")
        return web.Response(status=400, text=f"bad request; you sent {seen}")

    routes = {LOGON_PATH: opaque_bearer, LICENCE_PATH: echo_authorization}
    async with client_of(routes) as cloud:
        with pytest.raises(LicenceUnavailable) as caught:
            await upload_one(cloud)

    message = str(caught.value)
    assert "HTTP 400: bad request; you sent Bearer ***" in message
    assert_no_secret(message)
    assert_no_secret(caplog.text)


@pytest.mark.parametrize("status", [400, 503])
async def test_upload_error_echoing_the_licence_token_is_masked(
    status: int, caplog: pytest.LogCaptureFixture
) -> None:
    """An upload endpoint quoting the licence token: masked in errors and logs."""
    caplog.set_level(logging.DEBUG)

    async def echo_form(request: web.Request) -> web.Response:
        token = (await request.post())["licenseToken"]
        assert isinstance(token, str)
        message = f"token {token} refused, bearer {BEARER}"
        return web.json_response({"message": message}, status=status)

    routes = {
        LOGON_PATH: opaque_bearer,
        LICENCE_PATH: opaque_licence,
        UPLOAD_PATH: echo_form,
    }
    clock = FakeClock(start=time.time())
    async with client_of(routes, clock, max_attempts=3) as cloud:
        with pytest.raises(UploadFailed) as caught:
            await upload_one(cloud)

    message = str(caught.value)
    assert f"HTTP {status}: token *** refused, bearer ***" in message
    assert_no_secret(message)
    assert_no_secret(caplog.text)
    if status == 503:
        assert "upload retry:" in caplog.text


async def test_logon_error_echoing_the_form_hides_the_encoded_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A logon error quoting the form body: the percent-encoded secret is masked."""
    caplog.set_level(logging.DEBUG)

    async def echo_body(request: web.Request) -> web.Response:
        body = await request.text()
        return web.Response(status=500, text=f"cannot parse {body}")

    clock = FakeClock(start=time.time())
    async with client_of({LOGON_PATH: echo_body}, clock) as cloud:
        with pytest.raises(CloudUnavailable) as caught:
            await cloud.logon()

    message = str(caught.value)
    assert "HTTP 500: cannot parse key=***&secret=***" in message
    assert_no_secret(message)
    assert_no_secret(caplog.text)


async def test_malformed_answer_echoing_the_bearer_is_not_quoted() -> None:
    """A licence answer that is not HTTP, quoting our header: a fixed phrase."""

    async def answer(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        length = next(
            (
                int(line.split(":")[1])
                for line in head.split("\r\n")
                if line.lower().startswith("content-length:")
            ),
            0,
        )
        await reader.readexactly(length)
        if LOGON_PATH in head.split("\r\n")[0]:
            reply = f"HTTP/1.1 200 OK\r\nContent-Length: {len(BEARER)}\r\n\r\n{BEARER}"
        else:
            echoed = head.split("Authorization: ")[1].split("\r\n")[0]
            reply = f"HTTP/1.1 2x0 {echoed}\r\nContent-Length: 0\r\n\r\n"
        writer.write(reply.encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with CloudClient(
            settings_for(f"http://127.0.0.1:{port}"),
            token_store=MemoryTokenStore(),
            clock=FakeClock(start=time.time()),
        ) as cloud:
            with pytest.raises(LicenceUnavailable) as caught:
                await upload_one(cloud)
    finally:
        server.close()
        await server.wait_closed()

    assert "the answer was not valid HTTP" in str(caught.value)
    assert_no_secret(str(caught.value))
    assert_no_secret(repr(caught.value.__cause__))


@pytest.mark.parametrize(
    "location",
    [
        f"http://{BEARER}:{LICENCE_TOKEN}@127.0.0.1:9/p?licenseToken={LICENCE_TOKEN}",
        f"https://{LICENCE_TOKEN}.example/p",
    ],
)
async def test_redirect_target_in_a_message_carries_no_secret(location: str) -> None:
    """A redirect naming secrets in its user, query or host: none is quoted."""

    async def redirect(request: web.Request) -> web.Response:
        return web.Response(status=307, headers={"Location": location})

    routes = {
        LOGON_PATH: opaque_bearer,
        LICENCE_PATH: opaque_licence,
        UPLOAD_PATH: redirect,
    }
    async with client_of(routes) as cloud:
        with pytest.raises(UploadFailed, match="redirect to ") as caught:
            await upload_one(cloud)

    assert caught.value.permanent
    assert_no_secret(str(caught.value))


# -- answers without end -----------------------------------------------------


def endless(status: int, first: bytes, total: int, sent: list[int]) -> Handler:
    """A handler streaming ``first`` and then filler, ``total`` bytes in all."""

    async def handler(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(status=status)
        await response.prepare(request)
        chunk = b"A" * 65536
        sent.append(len(first))
        try:
            await response.write(first)
            while sent[-1] < total:
                await response.write(chunk)
                sent[-1] += len(chunk)
        except ConnectionError:
            pass
        return response

    return handler


async def test_endless_upload_answer_is_read_only_up_to_the_cap() -> None:
    """A 256 MiB answer to an upload: its start is the reason, the rest unread."""
    total = 256 * 1024 * 1024
    sent: list[int] = []
    routes = {
        LOGON_PATH: opaque_bearer,
        LICENCE_PATH: opaque_licence,
        UPLOAD_PATH: endless(413, b"the file is too large ", total, sent),
    }
    async with client_of(routes) as cloud:
        with anyio.fail_after(30), pytest.raises(UploadFailed) as caught:
            await upload_one(cloud)

    assert caught.value.status == 413
    assert caught.value.permanent
    assert "HTTP 413: the file is too large AAAA" in str(caught.value)
    # What the kernel buffers before the server notices is all it could send.
    assert sent[0] < 32 * 1024 * 1024


async def test_cut_answer_does_not_show_the_start_of_a_secret() -> None:
    """An answer cut at the cap in the middle of a token shows none of it."""
    padding = b" " * (MAX_ANSWER_BYTES - 10)

    async def cut_token(request: web.Request) -> web.Response:
        await request.read()
        body = padding + LICENCE_TOKEN.encode() * 100
        return web.Response(status=413, body=body)

    routes = {
        LOGON_PATH: opaque_bearer,
        LICENCE_PATH: opaque_licence,
        UPLOAD_PATH: cut_token,
    }
    async with client_of(routes) as cloud:
        with pytest.raises(UploadFailed) as caught:
            await upload_one(cloud)

    assert caught.value.status == 413
    assert LICENCE_TOKEN[:4].lower() not in str(caught.value).lower()


@pytest.mark.parametrize("endpoint", [LOGON_PATH, LICENCE_PATH])
async def test_oversized_token_answer_is_a_clear_error(endpoint: str) -> None:
    """A logon or licence answer of 100 MiB is refused as too large, unread."""
    sent: list[int] = []
    routes: dict[str, Handler] = {
        LOGON_PATH: opaque_bearer,
        LICENCE_PATH: opaque_licence,
    }
    routes[endpoint] = endless(200, b"eyJ", 100 * 1024 * 1024, sent)
    async with client_of(routes) as cloud:
        with anyio.fail_after(30), pytest.raises(CloudError) as caught:
            await upload_one(cloud)

    assert "more than 64 KiB" in str(caught.value)
    assert "check the api url" in str(caught.value).lower()
    if endpoint == LICENCE_PATH:
        assert isinstance(caught.value, LicenceUnavailable)
    assert sent[0] < 32 * 1024 * 1024


# -- a cloud that is not there -----------------------------------------------


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_closed_port_is_cloud_unavailable_out_of_the_client_block() -> None:
    """Logon to a closed port: CloudUnavailable itself, exit 6, host and cause."""
    port = closed_port()
    clock = FakeClock(start=time.time())
    with pytest.raises(CloudUnavailable) as caught:
        async with CloudClient(
            settings_for(f"http://127.0.0.1:{port}"),
            token_store=MemoryTokenStore(),
            clock=clock,
        ) as cloud:
            await cloud.logon()

    message = str(caught.value)
    assert type(caught.value) is CloudUnavailable
    assert caught.value.exit_code == EXIT_UNAVAILABLE
    assert f"127.0.0.1:{port}" in message
    assert "connection refused" in message
    assert cloud.statistics().logons == 4
    assert len(clock.sleeps) == 3
    assert_no_secret(message)


async def test_https_to_a_plain_http_port_is_a_tls_failure(
    simulator: Simulator,
) -> None:
    """https:// on a plain-HTTP port: CloudUnavailable naming the TLS handshake."""
    url = simulator.url.replace("http://", "https://")
    async with CloudClient(settings_for(url), token_store=MemoryTokenStore()) as cloud:
        with pytest.raises(CloudUnavailable) as caught:
            await cloud.logon()

    message = str(caught.value)
    assert "TLS handshake failed" in message
    assert url.removeprefix("https://") in message
    assert_no_secret(message)
    # Not retried: another handshake fails the same way.
    assert cloud.statistics().logons == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_logon_failing_after_the_retries_is_cloud_unavailable(
    status: int,
) -> None:
    """Logon answered 5xx every time: retried, then CloudUnavailable (exit 6)."""
    calls: list[int] = []

    async def failing(request: web.Request) -> web.Response:
        calls.append(status)
        return web.json_response({"message": "down for maintenance"}, status=status)

    clock = FakeClock(start=time.time())
    async with client_of({LOGON_PATH: failing}, clock) as cloud:
        with pytest.raises(CloudUnavailable) as caught:
            await cloud.logon()

    message = str(caught.value)
    assert f"HTTP {status}: down for maintenance" in message
    assert "Cannot reach the API at 127.0.0.1:" in message
    assert caught.value.exit_code == EXIT_UNAVAILABLE
    assert len(calls) == 4
    assert_no_secret(message)


async def test_logon_with_a_wrong_url_path_is_not_unavailable() -> None:
    """A 404 at logon is a wrong URL, not an outage: CloudError, not exit 6."""

    async def missing(request: web.Request) -> web.Response:
        return web.Response(status=404, text=json.dumps({"title": "Not Found"}))

    async with client_of({LOGON_PATH: missing}) as cloud:
        with pytest.raises(CloudError) as caught:
            await cloud.logon()

    assert not isinstance(caught.value, CloudUnavailable)
    assert "HTTP 404" in str(caught.value)


# -- a stop while a licence call waits to be retried -------------------------


async def test_stop_ends_a_licence_retry_wait_without_another_call() -> None:
    """A licence call told to retry in 30 s: a stop ends the wait at once."""
    calls: list[float] = []
    called = anyio.Event()

    async def busy(request: web.Request) -> web.Response:
        calls.append(time.monotonic())
        called.set()
        return web.Response(status=503, text="busy", headers={"Retry-After": "30"})

    async def stop_after_the_first_call(cloud: CloudClient) -> None:
        await called.wait()
        # Let the 503 reach the client, so the stop finds it waiting to retry.
        await anyio.sleep(0.05)
        cloud.stop_new_requests()

    routes = {LOGON_PATH: opaque_bearer, LICENCE_PATH: busy}
    async with client_of(routes) as cloud, anyio.create_task_group() as tg:
        tg.start_soon(stop_after_the_first_call, cloud)
        with anyio.fail_after(2), pytest.raises(UploadNotStarted):
            await upload_one(cloud)
        statistics = cloud.statistics()

    assert len(calls) == 1
    assert statistics.licence_calls == 1
    assert statistics.licence_failures == 0
