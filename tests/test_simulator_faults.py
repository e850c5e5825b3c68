"""The simulator's trouble: blocking, rate limits, faults, drops, latency, limits."""

from __future__ import annotations

import io
import logging
import time
from email.utils import parsedate_to_datetime

import aiohttp
import anyio
import pytest
from helpers import LICENCE_PATH, LOGON_PATH, UPLOAD_PATH

from bulk_uploader.clock import FakeClock
from bulk_uploader.simulator import Simulator, SimulatorConfig

CLIENT = "3f1c2a9e-0000-4000-8000-000000000001"

pytestmark = pytest.mark.anyio


async def bearer_token(
    session: aiohttp.ClientSession, sim: Simulator, key: str = "demo-key"
) -> str:
    form = {"key": key, "secret": sim.config.credentials[key]}
    async with session.post(sim.url + LOGON_PATH, data=form) as response:
        assert response.status == 200
        token: str = await response.json()
    return token


async def ask_licence(
    session: aiohttp.ClientSession, sim: Simulator, bearer: str, client: str = CLIENT
) -> aiohttp.ClientResponse:
    """One licensing/token call; the response is read and released."""
    params = {"uniqueClientId": client, "accessLicenseId": "licence-1"}
    headers = {"Authorization": f"Bearer {bearer}"}
    async with session.get(sim.url + LICENCE_PATH, params=params, headers=headers) as r:
        await r.read()
    return r


async def licence_token(session: aiohttp.ClientSession, sim: Simulator) -> str:
    response = await ask_licence(session, sim, await bearer_token(session, sim))
    assert response.status == 200
    token: str = await response.json()
    return token


async def upload(
    session: aiohttp.ClientSession,
    sim: Simulator,
    token: str,
    content: bytes = b"{}",
    name: str = "r.json",
) -> aiohttp.ClientResponse:
    form = aiohttp.FormData()
    form.add_field("uniqueClientId", CLIENT)
    form.add_field("licenseToken", token)
    # A stream, not bytes: aiohttp warns about large raw bytes bodies.
    form.add_field("file", io.BytesIO(content), filename=name)
    async with session.post(sim.url + UPLOAD_PATH, data=form) as response:
        await response.read()
    return response


async def test_too_many_licence_calls_block_with_429_and_retry_after(
    session: aiohttp.ClientSession,
) -> None:
    """The call over the limit and every call in the block get 429 + Retry-After."""
    clock = FakeClock()
    config = SimulatorConfig(licence_limit=3, licence_window=60, block_duration=90)
    async with Simulator(config, clock=clock) as sim:
        bearer = await bearer_token(session, sim)
        statuses = [(await ask_licence(session, sim, bearer)).status for _ in range(3)]
        blocked = await ask_licence(session, sim, bearer)
        clock.advance(60)
        still = await ask_licence(session, sim, bearer)
        clock.advance(30)
        free = await ask_licence(session, sim, bearer)

        assert statuses == [200, 200, 200]
        assert blocked.status == 429
        assert blocked.headers["Retry-After"] == "90"
        assert still.status == 429
        assert still.headers["Retry-After"] == "30"
        assert free.status == 200
        assert sim.stats().licence_calls == {CLIENT: 6}
        assert sim.stats().calls["licence"] == {200: 4, 429: 2}


async def test_a_blocked_caller_can_be_answered_403(
    session: aiohttp.ClientSession,
) -> None:
    """With block_status=403 the block is a 403 without Retry-After."""
    config = SimulatorConfig(licence_limit=1, block_status=403)
    async with Simulator(config) as sim:
        bearer = await bearer_token(session, sim)
        assert (await ask_licence(session, sim, bearer)).status == 200

        blocked = await ask_licence(session, sim, bearer)

        assert blocked.status == 403
        assert "Retry-After" not in blocked.headers
        assert "blocked" in await blocked.text()


async def test_the_block_ends_after_block_duration_in_real_time(
    session: aiohttp.ClientSession,
) -> None:
    """On the system clock a 0.2 s block lifts by itself."""
    config = SimulatorConfig(licence_limit=1, block_duration=0.2)
    async with Simulator(config) as sim:
        bearer = await bearer_token(session, sim)
        await ask_licence(session, sim, bearer)
        assert (await ask_licence(session, sim, bearer)).status == 429

        await anyio.sleep(0.3)

        assert (await ask_licence(session, sim, bearer)).status == 200


async def test_the_licence_window_slides(session: aiohttp.ClientSession) -> None:
    """Calls spread wider than the window never trip the limit."""
    clock = FakeClock()
    config = SimulatorConfig(licence_limit=2, licence_window=10)
    async with Simulator(config, clock=clock) as sim:
        bearer = await bearer_token(session, sim)
        statuses = []
        for _ in range(6):
            statuses.append((await ask_licence(session, sim, bearer)).status)
            clock.advance(5.5)

        assert statuses == [200] * 6


async def test_blocking_is_per_caller(session: aiohttp.ClientSession) -> None:
    """A blocked API key does not block another key."""
    config = SimulatorConfig(
        licence_limit=1, credentials={"a": "secret-a", "b": "secret-b"}
    )
    async with Simulator(config) as sim:
        first = await bearer_token(session, sim, "a")
        second = await bearer_token(session, sim, "b")
        await ask_licence(session, sim, first)

        assert (await ask_licence(session, sim, first)).status == 429
        assert (await ask_licence(session, sim, second)).status == 200


async def test_reset_lifts_blocks(session: aiohttp.ClientSession) -> None:
    """reset() forgets blocks along with the counters."""
    async with Simulator(SimulatorConfig(licence_limit=1)) as sim:
        bearer = await bearer_token(session, sim)
        await ask_licence(session, sim, bearer)
        assert (await ask_licence(session, sim, bearer)).status == 429

        sim.reset()

        assert (await ask_licence(session, sim, bearer)).status == 200


async def test_upload_rate_limit_answers_429_with_retry_after_seconds(
    session: aiohttp.ClientSession,
) -> None:
    """Above upload_rate_limit uploads get 429; refilled capacity lets them in."""
    clock = FakeClock()
    async with Simulator(SimulatorConfig(), clock=clock) as sim:
        token = await licence_token(session, sim)
        sim.config.upload_rate_limit = 2.0
        burst = [(await upload(session, sim, token)).status for _ in range(2)]
        refused = await upload(session, sim, token)
        clock.advance(0.5)
        later = await upload(session, sim, token)

        assert burst == [200, 200]
        assert refused.status == 429
        assert refused.headers["Retry-After"] == "1"
        assert later.status == 200
        assert len(sim.received()) == 3


async def test_upload_rate_limit_can_say_retry_after_as_a_date(
    session: aiohttp.ClientSession,
) -> None:
    """With retry_after_format="date" Retry-After is an HTTP date, never early."""
    clock = FakeClock(start=1_800_000_000.25)
    config = SimulatorConfig(retry_after_format="date")
    async with Simulator(config, clock=clock) as sim:
        token = await licence_token(session, sim)
        sim.config.upload_rate_limit = 0.5
        await upload(session, sim, token)

        refused = await upload(session, sim, token)

        assert refused.status == 429
        # Two seconds from .25 is 2.25 s away; a whole-second date rounds up.
        when = parsedate_to_datetime(refused.headers["Retry-After"]).timestamp()
        assert when == 1_800_000_003


async def test_fault_rate_one_answers_only_faults(
    session: aiohttp.ClientSession,
) -> None:
    """fault_rate=1 answers every upload with one of fault_statuses."""
    async with Simulator(SimulatorConfig()) as sim:
        token = await licence_token(session, sim)
        sim.config.fault_rate = 1.0
        statuses = {(await upload(session, sim, token)).status for _ in range(30)}
        sim.config.fault_statuses = (503,)
        only = await upload(session, sim, token)

        assert statuses <= {500, 502, 503, 504}
        assert len(statuses) > 1
        assert only.status == 503
        assert sim.received() == []


async def test_faults_with_a_seed_are_reproducible(
    session: aiohttp.ClientSession,
) -> None:
    """Two simulators with the same seed inject the same faults in the same order."""
    runs = []
    for _ in range(2):
        async with Simulator(SimulatorConfig(seed=7)) as sim:
            token = await licence_token(session, sim)
            sim.config.fault_rate = 0.5
            runs.append([(await upload(session, sim, token)).status for _ in range(20)])

    assert runs[0] == runs[1]
    assert 200 in runs[0]
    assert set(runs[0]) - {200}


async def test_reset_restarts_the_seeded_faults(
    session: aiohttp.ClientSession,
) -> None:
    """After reset() a seeded simulator injects the same faults again."""
    async with Simulator(SimulatorConfig(seed=11)) as sim:
        token = await licence_token(session, sim)
        sim.config.fault_rate = 0.5
        runs = []
        for _ in range(2):
            sim.reset()
            runs.append([(await upload(session, sim, token)).status for _ in range(20)])

        assert runs[0] == runs[1]
        assert len(set(runs[0])) > 1


async def test_a_dropped_upload_gets_no_answer_and_counts_as_status_0(
    session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """drop_rate=1 closes the connection without an answer; nothing is recorded."""
    async with Simulator(SimulatorConfig()) as sim:
        token = await licence_token(session, sim)
        sim.config.drop_rate = 1.0

        with pytest.raises(aiohttp.ClientConnectionError):
            await upload(session, sim, token)

        sim.config.drop_rate = 0.0
        assert (await upload(session, sim, token)).status == 200
        assert sim.stats().calls["upload"] == {0: 1, 200: 1}
        assert len(sim.received()) == 1
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_fault_and_drop_shares_split_the_uploads(
    session: aiohttp.ClientSession,
) -> None:
    """fault_rate and drop_rate take disjoint shares; no statuses means no faults."""
    async with Simulator(SimulatorConfig(seed=3)) as sim:
        token = await licence_token(session, sim)
        sim.config.fault_rate = 0.5
        sim.config.drop_rate = 0.5
        sim.config.fault_statuses = ()
        outcomes = []
        for _ in range(20):
            try:
                outcomes.append((await upload(session, sim, token)).status)
            except aiohttp.ClientConnectionError:
                outcomes.append(0)

        assert set(outcomes) == {0, 200}
        assert sim.stats().calls["upload"][0] == outcomes.count(0)


async def test_latency_delays_every_upload_answer(
    session: aiohttp.ClientSession,
) -> None:
    """latency holds back accepted and refused uploads alike."""
    async with Simulator(SimulatorConfig(latency=0.25)) as sim:
        token = await licence_token(session, sim)
        for licence in (token, "garbage"):
            started = time.monotonic()
            await upload(session, sim, licence)
            assert time.monotonic() - started >= 0.25


async def test_latency_jitter_varies_the_delay(
    session: aiohttp.ClientSession,
) -> None:
    """latency_jitter adds a random share of up to jitter seconds per upload."""
    async with Simulator(SimulatorConfig(latency_jitter=0.2, seed=1)) as sim:
        token = await licence_token(session, sim)
        delays = []
        for _ in range(6):
            started = time.monotonic()
            await upload(session, sim, token)
            delays.append(time.monotonic() - started)

    assert max(delays) - min(delays) > 0.03
    assert max(delays) < 1.0


async def test_a_file_above_max_body_size_is_a_413(
    session: aiohttp.ClientSession,
) -> None:
    """Files up to max_body_size are accepted, one byte more gets 413."""
    async with Simulator(SimulatorConfig(max_body_size=1000)) as sim:
        token = await licence_token(session, sim)

        fits = await upload(session, sim, token, content=b"x" * 1000)
        too_big = await upload(session, sim, token, content=b"x" * 1001)

        assert fits.status == 200
        assert too_big.status == 413
        assert "1000" in await too_big.text()
        assert [r.size for r in sim.received()] == [1000]


async def test_revoke_after_uploads_revokes_once(
    session: aiohttp.ClientSession,
) -> None:
    """After N accepted uploads old tokens get 403; a fresh token keeps working."""
    async with Simulator(SimulatorConfig(revoke_after_uploads=2)) as sim:
        old = await licence_token(session, sim)
        accepted = [(await upload(session, sim, old)).status for _ in range(2)]
        revoked = await upload(session, sim, old)
        fresh = await licence_token(session, sim)
        after = [(await upload(session, sim, fresh)).status for _ in range(3)]

        assert accepted == [200, 200]
        assert revoked.status == 403
        assert "revoked" in await revoked.text()
        assert after == [200, 200, 200]


async def test_a_large_upload_streams_through(
    session: aiohttp.ClientSession,
) -> None:
    """A multi-megabyte file is hashed as it streams and recorded by size only."""
    content = bytes(range(256)) * 20_000
    async with Simulator(SimulatorConfig()) as sim:
        token = await licence_token(session, sim)

        response = await upload(session, sim, token, content=content)

        assert response.status == 200
        assert sim.received()[0].size == len(content)
        assert sim.stats().bytes_received == len(content)
