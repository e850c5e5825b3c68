"""Licence tokens against the simulator: single-flight, reuse, refresh, guard."""

from __future__ import annotations

import time

import anyio
import pytest
from helpers import cloud_settings

from bulk_uploader.clock import FakeClock
from bulk_uploader.cloud import (
    CloudClient,
    CloudSettings,
    MemoryTokenStore,
    StoredLicenceToken,
)
from bulk_uploader.errors import CloudError, LicenceBlocked, LicenceUnavailable
from bulk_uploader.simulator import Simulator, SimulatorConfig

pytestmark = pytest.mark.anyio

LICENCE = "licence-1"
DAY = 86400.0


async def upload_each(
    cloud: CloudClient, jobs: list[tuple[str, str]]
) -> dict[str, BaseException | None]:
    """Upload (client, name) pairs concurrently; the outcome of each name."""
    outcomes: dict[str, BaseException | None] = {}

    async def one(client: str, name: str) -> None:
        try:
            await cloud.upload(
                client_id=client, license_id=LICENCE, name=name, data=b"{}"
            )
        except CloudError as exc:
            outcomes[name] = exc
        else:
            outcomes[name] = None

    async with anyio.create_task_group() as tg:
        for client, name in jobs:
            tg.start_soon(one, client, name)
    return outcomes


def jobs_for(
    clients: list[str], per_client: int, batch: str = ""
) -> list[tuple[str, str]]:
    """`per_client` receipts for each client, named uniquely per batch."""
    return [(c, f"{c}-{batch}{i}.json") for i in range(per_client) for c in clients]


async def test_concurrent_first_uploads_make_one_licence_call_per_client(
    simulator: Simulator,
) -> None:
    """500 uploads for 50 new clients started at once: exactly 50 licence calls."""
    clients = [f"client-{n:02d}" for n in range(50)]
    store = MemoryTokenStore()
    async with CloudClient(cloud_settings(simulator), token_store=store) as cloud:
        await cloud.logon()
        outcomes = await upload_each(cloud, jobs_for(clients, 10))

    assert all(error is None for error in outcomes.values())
    stats = simulator.stats()
    assert stats.total("licence") == 50
    assert stats.licence_calls == {client: 1 for client in clients}
    assert stats.total("upload", 200) == 500
    assert cloud.statistics().licence_calls == 50
    assert all(store.load_licence_token(c, LICENCE) for c in clients)


async def test_second_client_over_the_same_store_makes_no_licence_call(
    simulator: Simulator,
) -> None:
    """Tokens persisted by one run are reused by the next: zero licence calls."""
    clients = [f"client-{n}" for n in range(5)]
    store = MemoryTokenStore()
    async with CloudClient(cloud_settings(simulator), token_store=store) as first:
        await upload_each(first, jobs_for(clients, 2))
    assert simulator.stats().total("licence") == 5

    simulator.reset()
    async with CloudClient(cloud_settings(simulator), token_store=store) as second:
        assert second.cached_licence(clients[0], LICENCE) is not None
        outcomes = await upload_each(second, jobs_for(clients, 4, "b"))

    assert all(error is None for error in outcomes.values())
    assert simulator.stats().total("licence") == 0
    assert simulator.stats().total("upload", 200) == 20


async def test_token_inside_refresh_window_is_refreshed_once(
    simulator: Simulator,
) -> None:
    """A stored token with less than a day left: one licence call, then reused."""
    simulator.config.licence_lifetime = 3 * 3600.0
    store = MemoryTokenStore()
    async with CloudClient(cloud_settings(simulator), token_store=store) as first:
        await upload_each(first, jobs_for(["pos-a"], 1))
    old = store.load_licence_token("pos-a", LICENCE)
    assert old is not None

    simulator.reset()
    simulator.config.licence_lifetime = 30 * DAY
    async with CloudClient(cloud_settings(simulator), token_store=store) as second:
        assert second.cached_licence("pos-a", LICENCE) is None
        outcomes = await upload_each(second, jobs_for(["pos-a"], 20, "b"))

    assert all(error is None for error in outcomes.values())
    assert simulator.stats().total("licence") == 1
    new = store.load_licence_token("pos-a", LICENCE)
    assert new is not None
    assert new.token != old.token
    assert new.expires_at > old.expires_at + 20 * DAY


async def test_token_outside_refresh_window_is_not_refreshed(
    simulator: Simulator,
) -> None:
    """A stored token with more than a day left is used without a licence call."""
    clock = FakeClock(start=time.time())
    store = MemoryTokenStore()
    async with CloudClient(
        cloud_settings(simulator), token_store=store, clock=clock
    ) as first:
        await upload_each(first, jobs_for(["pos-a"], 1))

    # 28 days later the 30-day token still has two days left.
    clock.advance(28 * DAY)
    simulator.reset()
    async with CloudClient(
        cloud_settings(simulator), token_store=store, clock=clock
    ) as second:
        assert second.cached_licence("pos-a", LICENCE) is not None
        await second.logon()
        cached = second.cached_licence("pos-a", LICENCE)
    assert cached is not None
    assert simulator.stats().total("licence") == 0

    # One more day and a half: inside the margin, so it is due.
    clock.advance(1.5 * DAY)
    async with CloudClient(
        cloud_settings(simulator), token_store=store, clock=clock
    ) as third:
        assert third.cached_licence("pos-a", LICENCE) is None


async def test_token_without_exp_counts_as_valid_for_thirty_days(
    simulator: Simulator,
) -> None:
    """A licence token with no readable exp is kept as valid 30 days from fetch."""
    simulator.config.licence_has_exp = False
    store = MemoryTokenStore()
    before = time.time()
    async with CloudClient(cloud_settings(simulator), token_store=store) as cloud:
        await upload_each(cloud, jobs_for(["pos-a"], 3))
    stored = store.load_licence_token("pos-a", LICENCE)

    assert stored is not None
    assert stored.fetched_at >= before
    assert stored.expires_at == pytest.approx(stored.fetched_at + 30 * DAY)
    assert simulator.stats().total("licence") == 1


async def test_failed_refresh_keeps_the_old_token_while_valid(
    simulator: Simulator,
) -> None:
    """A refresh refused by a block keeps the old token; uploads go on."""
    simulator.config.licence_lifetime = 3 * 3600.0
    store = MemoryTokenStore()
    async with CloudClient(cloud_settings(simulator), token_store=store) as first:
        await upload_each(first, jobs_for(["pos-a"], 1))
    old = store.load_licence_token("pos-a", LICENCE)

    simulator.reset()
    simulator.config.licence_limit = 0
    async with CloudClient(cloud_settings(simulator), token_store=store) as second:
        outcomes = await upload_each(second, jobs_for(["pos-a"], 10, "b"))
        assert second.statistics().licence_failures == 1

    assert all(error is None for error in outcomes.values())
    assert simulator.stats().total("licence") == 1
    assert simulator.stats().total("upload", 200) == 10
    assert store.load_licence_token("pos-a", LICENCE) == old


@pytest.mark.parametrize("block_status", [429, 403])
async def test_block_stops_all_licence_calls(
    simulator: Simulator, block_status: int
) -> None:
    """After the first 429/403 from licensing: no more calls; holders go on."""
    simulator.config.licence_limit = 3
    simulator.config.block_status = block_status  # type: ignore[assignment]
    holders = ["pos-a", "pos-b", "pos-c"]
    newcomers = ["pos-d", "pos-e", "pos-f"]
    store = MemoryTokenStore()
    async with CloudClient(cloud_settings(simulator), token_store=store) as cloud:
        await upload_each(cloud, jobs_for(holders, 1))
        assert simulator.stats().total("licence") == 3

        outcomes = await upload_each(cloud, jobs_for(holders + newcomers, 5, "b"))
        more = await upload_each(cloud, jobs_for(newcomers, 2, "c"))
        statistics = cloud.statistics()

    assert simulator.stats().total("licence") == 4
    assert simulator.stats().total("licence", block_status) == 1
    for name, error in {**outcomes, **more}.items():
        if name.startswith(tuple(holders)):
            assert error is None
        else:
            assert isinstance(error, LicenceBlocked)
            assert "blocked us" in str(error)
            assert f"HTTP {block_status}" in str(error)
            assert "Try again" in str(error)
    assert simulator.stats().total("upload", 200) == 3 + 15
    assert statistics.blocked
    if block_status == 429:
        # The simulator sends Retry-After with its 429: the message names the time.
        assert statistics.blocked_until is not None
        blocked = next(e for e in outcomes.values() if e is not None)
        assert isinstance(blocked, LicenceBlocked)
        assert blocked.retry_at == statistics.blocked_until
        assert "UTC" in str(blocked)


async def test_unknown_licence_pair_fails_that_client_once(
    simulator: Simulator,
) -> None:
    """A 404 from licensing fails every waiter with the reason; no second call."""
    simulator.config.licences = {("pos-a", LICENCE)}
    async with CloudClient(
        cloud_settings(simulator), token_store=MemoryTokenStore()
    ) as cloud:
        outcomes = await upload_each(cloud, jobs_for(["pos-a", "pos-x"], 10))
        later = await upload_each(cloud, jobs_for(["pos-x"], 3, "b"))

    for name, error in {**outcomes, **later}.items():
        if name.startswith("pos-a"):
            assert error is None
        else:
            assert isinstance(error, LicenceUnavailable)
            assert not isinstance(error, LicenceBlocked)
            assert error.client_id == "pos-x"
            assert "HTTP 404" in str(error)
            assert "no such licence" in str(error)
    assert simulator.stats().licence_calls == {"pos-a": 1, "pos-x": 1}


async def test_revoked_licence_is_fetched_again_once(simulator: Simulator) -> None:
    """Tokens revoked mid-run: one new token per client, then every upload lands."""
    clients = [f"pos-{n}" for n in range(5)]
    simulator.config.revoke_after_uploads = 10
    async with CloudClient(
        cloud_settings(simulator), token_store=MemoryTokenStore()
    ) as cloud:
        first = await upload_each(cloud, jobs_for(clients, 2))
        rest = await upload_each(cloud, jobs_for(clients, 6, "late-"))

    assert all(error is None for error in {**first, **rest}.values())
    assert simulator.stats().licence_calls == {client: 2 for client in clients}
    assert len(simulator.received()) == 40
    assert simulator.stats().duplicates == 0


async def test_token_rejected_twice_fails_the_client(simulator: Simulator) -> None:
    """A replacement that is rejected too: that client fails, no more calls."""
    # Already expired when issued: every upload with them gets a 401.
    simulator.config.licence_lifetime = -60.0
    async with CloudClient(
        cloud_settings(simulator), token_store=MemoryTokenStore()
    ) as cloud:
        outcomes = await upload_each(cloud, jobs_for(["pos-a"], 8))
        later = await upload_each(cloud, jobs_for(["pos-a"], 2, "b"))

    for error in {**outcomes, **later}.values():
        assert isinstance(error, LicenceUnavailable)
        assert "even after a new one was fetched" in str(error)
    assert simulator.stats().licence_calls == {"pos-a": 2}
    assert simulator.received() == []


async def test_cancelled_waiter_does_not_cancel_the_fetch() -> None:
    """One of two uploads waiting for a token is cancelled; the other gets it."""
    async with Simulator(SimulatorConfig()) as sim:
        # Two licence calls per second: the second client's call waits 0.5 s.
        settings = cloud_settings(sim, licence_rate=2.0)
        async with CloudClient(settings, token_store=MemoryTokenStore()) as cloud:
            await upload_each(cloud, jobs_for(["pos-a"], 1))
            done: list[str] = []

            async def impatient() -> None:
                with anyio.move_on_after(0.1):
                    await cloud.upload(
                        client_id="pos-b", license_id=LICENCE, name="x.json", data=b""
                    )
                    done.append("impatient")

            async def patient() -> None:
                await cloud.upload(
                    client_id="pos-b", license_id=LICENCE, name="y.json", data=b""
                )
                done.append("patient")

            async with anyio.create_task_group() as tg:
                tg.start_soon(impatient)
                tg.start_soon(patient)

        assert done == ["patient"]
        assert sim.stats().licence_calls == {"pos-a": 1, "pos-b": 1}
        assert [r.name for r in sim.received()] == ["pos-a-0.json", "y.json"]


async def test_cached_licence_reads_the_store_without_network() -> None:
    """cached_licence works before the client is entered, from the store alone."""
    store = MemoryTokenStore()
    now = time.time()
    store.save_licence_token(
        StoredLicenceToken("pos-a", LICENCE, "t0ken", now + 10 * DAY, now)
    )
    store.save_licence_token(
        StoredLicenceToken("pos-b", LICENCE, "t0ken", now + 3600.0, now)
    )
    settings = CloudSettings(api_key="k", api_secret="s")
    cloud = CloudClient(settings, token_store=store)
    assert cloud.cached_licence("pos-a", LICENCE) is not None
    assert cloud.cached_licence("pos-b", LICENCE) is None
    assert cloud.cached_licence("pos-c", LICENCE) is None
