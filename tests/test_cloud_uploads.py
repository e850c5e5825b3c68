"""Uploads against the simulator: retries, Retry-After, names, refusals."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Literal

import anyio
import pytest
from aiohttp import web
from helpers import cloud_settings

from bulk_uploader.clock import FakeClock
from bulk_uploader.cloud import CloudClient, MemoryTokenStore
from bulk_uploader.errors import CloudError, UploadFailed
from bulk_uploader.simulator import Simulator, SimulatorConfig

pytestmark = pytest.mark.anyio

LICENCE = "licence-1"


async def test_faults_and_drops_lose_nothing_and_duplicate_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """15% injected 503s plus 15% dropped connections: each receipt lands once."""
    config = SimulatorConfig(
        fault_rate=0.15, fault_statuses=(503,), drop_rate=0.15, seed=11
    )
    names = {f"pos-{n % 10}/r-{n:04d}.json": f"pos-{n % 10}" for n in range(300)}
    clock = FakeClock(start=time.time())
    caplog.set_level(logging.INFO, logger="bulk_uploader")
    async with Simulator(config) as sim:
        settings = cloud_settings(sim.url, max_attempts=30)
        async with CloudClient(
            settings, token_store=MemoryTokenStore(), clock=clock
        ) as cloud:
            async with anyio.create_task_group() as tg:
                for name, client in names.items():
                    tg.start_soon(upload_one, cloud, client, name)
            statistics = cloud.statistics()
        stats = sim.stats()
        received = sim.received()

    assert stats.total("upload", 503) > 20
    assert stats.total("upload", 0) > 20
    assert sorted(r.name for r in received) == sorted(names)
    assert stats.duplicates == 0
    assert statistics.uploads_ok == 300
    assert statistics.retries == stats.total("upload") - 300
    retry_lines = [r for r in caplog.records if "upload retry:" in r.getMessage()]
    assert len(retry_lines) == statistics.retries
    # Routine retries are INFO: a long run meets thousands of them.
    assert all(r.levelno == logging.INFO for r in retry_lines)
    # The waits happened on the fake clock: the test did not sleep through them.
    assert len(clock.sleeps) >= statistics.retries


async def upload_one(cloud: CloudClient, client: str, name: str) -> None:
    await cloud.upload(client_id=client, license_id=LICENCE, name=name, data=b"{}")


@pytest.mark.parametrize("fmt", ["seconds", "date"])
async def test_retry_after_delays_the_next_attempt(
    fmt: Literal["seconds", "date"],
) -> None:
    """A 429 with Retry-After (seconds or date) waits at least that long."""
    # Simulator and client share one fake clock: the wait is measured on it.
    clock = FakeClock()
    config = SimulatorConfig(upload_rate_limit=0.1, retry_after_format=fmt)
    async with Simulator(config, clock=clock) as sim:
        async with CloudClient(
            cloud_settings(sim.url), token_store=MemoryTokenStore(), clock=clock
        ) as cloud:
            await upload_one(cloud, "pos-a", "first.json")
            await upload_one(cloud, "pos-a", "second.json")
            statistics = cloud.statistics()
        first, second = sim.received()
        stats = sim.stats()

    # At 0.1 uploads/s the second upload is told to come back in 10 s.
    assert stats.calls["upload"] == {200: 2, 429: 1}
    assert second.received_at - first.received_at >= 10.0
    assert max(clock.sleeps) >= 10.0
    assert statistics.throttled == 1
    assert statistics.current_rate is not None


async def test_throttled_uploads_slow_down_for_everyone() -> None:
    """After 429s the shared limit drops to about what the server accepts."""
    clock = FakeClock()
    config = SimulatorConfig(upload_rate_limit=50.0)
    async with Simulator(config, clock=clock) as sim:
        async with CloudClient(
            cloud_settings(sim.url), token_store=MemoryTokenStore(), clock=clock
        ) as cloud:
            assert cloud.statistics().current_rate is None
            names = iter(f"r-{n}.json" for n in range(300))

            async def worker() -> None:
                for name in names:
                    await upload_one(cloud, "pos-a", name)

            async with anyio.create_task_group() as tg:
                for _ in range(16):
                    tg.start_soon(worker)
            statistics = cloud.statistics()
        received = sim.received()

    assert len(received) == 300
    assert 1 <= statistics.throttled <= 30
    assert statistics.current_rate is not None
    assert 40.0 <= statistics.current_rate <= 55.0


async def test_non_ascii_file_name_arrives_exactly(simulator: Simulator) -> None:
    """Umlauts, the euro sign, quotes, % and a leading slash survive the wire."""
    names = [
        'Quittung Müller "Nr. 5" €.json',
        "Bon%20mit%Prozent.xml",
        "/führend/Schräg\\strich.pdf",
        "日本語のレシート.json",
        "tab\there.txt",
    ]
    async with CloudClient(
        cloud_settings(simulator.url), token_store=MemoryTokenStore()
    ) as cloud:
        for name in names:
            await upload_one(cloud, "pos-a", name)

    assert [r.name for r in simulator.received()] == names
    assert {r.via for r in simulator.received()} == {"form"}


async def test_body_is_rebuilt_for_every_attempt(simulator: Simulator) -> None:
    """After a dropped connection the retry sends the same bytes again, whole."""
    simulator.config.drop_rate = 0.5
    simulator.config.seed = 3
    data = bytes(range(256)) * 64
    clock = FakeClock(start=time.time())
    async with CloudClient(
        cloud_settings(simulator.url, max_attempts=30),
        token_store=MemoryTokenStore(),
        clock=clock,
    ) as cloud:
        for n in range(10):
            await cloud.upload(
                client_id="pos-a", license_id=LICENCE, name=f"r{n}.bin", data=data
            )
    received = simulator.received()
    assert len(received) == 10
    assert {r.size for r in received} == {len(data)}
    assert {r.sha256 for r in received} == {hashlib.sha256(data).hexdigest()}


async def test_too_large_is_permanent_with_the_servers_reason(
    simulator: Simulator,
) -> None:
    """A 413 fails at once, permanently, with the server's reason; no retry."""
    simulator.config.max_body_size = 10
    async with CloudClient(
        cloud_settings(simulator.url), token_store=MemoryTokenStore()
    ) as cloud:
        with pytest.raises(UploadFailed) as caught:
            await cloud.upload(
                client_id="pos-a", license_id=LICENCE, name="big.pdf", data=b"x" * 100
            )
    error = caught.value
    assert error.permanent
    assert error.status == 413
    assert "larger than 10 bytes" in str(error)
    assert simulator.stats().total("upload") == 1


async def test_retries_run_out_into_a_temporary_failure(simulator: Simulator) -> None:
    """A server failing every time: the attempt cap ends it, not permanent."""
    simulator.config.fault_rate = 1.0
    simulator.config.fault_statuses = (502,)
    clock = FakeClock(start=time.time())
    async with CloudClient(
        cloud_settings(simulator.url, max_attempts=4),
        token_store=MemoryTokenStore(),
        clock=clock,
    ) as cloud:
        with pytest.raises(UploadFailed) as caught:
            await upload_one(cloud, "pos-a", "r.json")
    assert not caught.value.permanent
    assert caught.value.status == 502
    assert "after 4 attempts" in str(caught.value)
    assert simulator.stats().total("upload", 502) == 4
    # Backoff with full jitter, each wait within its exponential cap.
    assert len(clock.sleeps) == 3
    assert all(0 <= s <= 0.5 * 2**i for i, s in enumerate(clock.sleeps))


@pytest.fixture
async def redirector(simulator: Simulator) -> AsyncIterator[str]:
    """A server on another port that redirects every request to the simulator."""

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(simulator.url + request.path_qs)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", redirect)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_logon_redirect_is_an_error_and_not_followed(
    simulator: Simulator, redirector: str
) -> None:
    """A redirected logon stops with a clear error; the secret goes nowhere else."""
    settings = cloud_settings(redirector, functions_url=simulator.url)
    async with CloudClient(settings, token_store=MemoryTokenStore()) as cloud:
        with pytest.raises(CloudError, match="redirect") as caught:
            await cloud.logon()
    assert "127.0.0.1" in str(caught.value)
    assert "Check the API URL" in str(caught.value)
    assert simulator.stats().total("logon") == 0


async def test_upload_redirect_is_permanent_and_not_followed(
    simulator: Simulator, redirector: str
) -> None:
    """A redirected upload fails permanently; the token is not sent on."""
    settings = cloud_settings(simulator.url, functions_url=redirector)
    async with CloudClient(settings, token_store=MemoryTokenStore()) as cloud:
        with pytest.raises(UploadFailed, match="redirect") as caught:
            await upload_one(cloud, "pos-a", "r.json")
    assert caught.value.permanent
    assert caught.value.status == 307
    assert simulator.stats().total("upload") == 0
