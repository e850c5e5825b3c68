"""Logon against the simulator: wrong credentials, answer shapes, renewal."""

from __future__ import annotations

import time
from typing import Literal

import anyio
import pytest
from helpers import cloud_settings

from bulk_uploader.clock import FakeClock
from bulk_uploader.cloud import CloudClient, MemoryTokenStore
from bulk_uploader.errors import EXIT_AUTH, AuthenticationError, LicenceUnavailable
from bulk_uploader.simulator import Simulator, SimulatorConfig

pytestmark = pytest.mark.anyio

LICENCE = "licence-1"


async def upload_one(cloud: CloudClient, client: str, name: str) -> None:
    await cloud.upload(client_id=client, license_id=LICENCE, name=name, data=b"{}")


async def test_wrong_secret_is_one_clear_error_before_any_upload(
    simulator: Simulator,
) -> None:
    """A wrong secret: AuthenticationError naming the host; nothing uploaded."""
    settings = cloud_settings(simulator, api_secret="not-the-secret")
    async with CloudClient(settings, token_store=MemoryTokenStore()) as cloud:
        with pytest.raises(AuthenticationError) as caught:
            await cloud.logon()
        statistics = cloud.statistics()

    message = str(caught.value)
    host = simulator.url.removeprefix("http://")
    assert host in message
    assert "API key and API secret" in message
    assert "HTTP 401" in message
    assert "not-the-secret" not in message
    assert caught.value.exit_code == EXIT_AUTH
    assert statistics.uploads_attempted == 0
    stats = simulator.stats()
    assert stats.calls["logon"] == {401: 1}
    assert stats.total("licence") == 0
    assert stats.total("upload") == 0


async def test_wrong_key_stops_uploads_that_skipped_logon(
    simulator: Simulator,
) -> None:
    """Uploads without logon() fail with the same error, after one logon call."""
    settings = cloud_settings(simulator, api_key="nobody")
    async with CloudClient(settings, token_store=MemoryTokenStore()) as cloud:
        for n in range(3):
            with pytest.raises(AuthenticationError):
                await upload_one(cloud, "pos-a", f"r{n}.json")
        assert cloud.statistics().uploads_attempted == 0
    assert simulator.stats().calls["logon"] == {401: 1}
    assert simulator.stats().total("upload") == 0
    assert simulator.stats().total("licence") == 0


async def test_errors_leave_the_client_block_unwrapped(simulator: Simulator) -> None:
    """An error raised in the `async with` block comes out as itself."""
    settings = cloud_settings(simulator, api_secret="not-the-secret")
    with pytest.raises(AuthenticationError):
        async with CloudClient(settings, token_store=MemoryTokenStore()) as cloud:
            await cloud.logon()
    with pytest.raises(KeyError):
        async with CloudClient(settings, token_store=MemoryTokenStore()):
            raise KeyError("from the caller")


async def test_missing_credentials_fail_without_a_call(simulator: Simulator) -> None:
    """An empty key or secret is refused locally; the API is not asked."""
    settings = cloud_settings(simulator, api_secret="")
    async with CloudClient(settings, token_store=MemoryTokenStore()) as cloud:
        with pytest.raises(AuthenticationError, match="No API key or API secret"):
            await cloud.logon()
    assert simulator.stats().total("logon") == 0


@pytest.mark.parametrize(
    ("shape", "key"),
    [
        ("json", "token"),
        ("text", "token"),
        ("object", "token"),
        ("object", "accessToken"),
        ("object", "access_token"),
    ],
)
async def test_tokens_are_read_from_any_answer_shape(
    shape: Literal["json", "text", "object"], key: str
) -> None:
    """Bare text, a JSON string or a JSON object: logon and licence both work."""
    config = SimulatorConfig(answer_shape=shape, object_key=key)
    async with Simulator(config) as sim:
        async with CloudClient(
            cloud_settings(sim), token_store=MemoryTokenStore()
        ) as cloud:
            await upload_one(cloud, "pos-a", "r.json")
        assert sim.stats().total("upload", 200) == 1


async def test_bearer_is_renewed_before_expiry_by_one_logon() -> None:
    """Near its exp the bearer token is renewed once, however many need it."""
    clock = FakeClock()
    async with Simulator(SimulatorConfig(bearer_lifetime=3600.0), clock=clock) as sim:
        async with CloudClient(
            cloud_settings(sim), token_store=MemoryTokenStore(), clock=clock
        ) as cloud:
            await cloud.logon()
            clock.advance(3590.0)
            async with anyio.create_task_group() as tg:
                for n in range(40):
                    tg.start_soon(upload_one, cloud, f"pos-{n % 8}", f"r{n}.json")
            statistics = cloud.statistics()
        stats = sim.stats()

    assert stats.calls["logon"] == {200: 2}
    assert statistics.logons == 2
    assert stats.calls["licence"] == {200: 8}
    assert stats.total("upload", 200) == 40


async def test_bearer_is_renewed_once_after_a_401_from_licensing() -> None:
    """A bearer the API calls expired (clock skew): one logon, then the call."""
    start = time.time()
    server_clock, client_clock = FakeClock(start), FakeClock(start)
    config = SimulatorConfig(bearer_lifetime=3600.0)
    async with Simulator(config, clock=server_clock) as sim:
        async with CloudClient(
            cloud_settings(sim), token_store=MemoryTokenStore(), clock=client_clock
        ) as cloud:
            await cloud.logon()
            # The server's clock runs two hours ahead of ours.
            server_clock.advance(7200.0)
            await upload_one(cloud, "pos-a", "r.json")
        stats = sim.stats()

    assert stats.calls["logon"] == {200: 2}
    assert stats.calls["licence"] == {401: 1, 200: 1}
    assert stats.total("upload", 200) == 1


async def test_bearer_refused_after_fresh_logon_stops_licence_calls() -> None:
    """401 even with a new bearer: every new client fails, no further calls."""
    config = SimulatorConfig(bearer_lifetime=-60.0)
    async with Simulator(config) as sim:
        async with CloudClient(
            cloud_settings(sim), token_store=MemoryTokenStore()
        ) as cloud:
            errors = []
            for client in ("pos-a", "pos-b", "pos-c"):
                with pytest.raises(LicenceUnavailable) as caught:
                    await upload_one(cloud, client, "r.json")
                errors.append(caught.value)
        stats = sim.stats()

    assert stats.calls["licence"] == {401: 2}
    assert stats.total("upload") == 0
    for error in errors:
        assert "refused our logon token even right after a new logon" in str(error)
