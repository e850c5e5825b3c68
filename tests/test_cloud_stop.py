"""A graceful stop: nothing new goes out, what is on the wire finishes.

These tests use the real clock on purpose: what they prove is that a wait
of many seconds (rate limiter, Retry-After, licence pacing) ends within a
moment of ``stop_new_requests``, so the waits are real and the test
measures how long the stop took.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio
import pytest
from helpers import cloud_settings

from bulk_uploader.cloud import CloudClient, MemoryTokenStore
from bulk_uploader.errors import UploadNotStarted
from bulk_uploader.simulator import Simulator, SimulatorConfig

pytestmark = pytest.mark.anyio

LICENCE = "licence-1"
# A stop must end every wait within this; the waits stopped last seconds.
PROMPT = 0.5


class Outcomes:
    """What each upload of a test came to, and when."""

    def __init__(self) -> None:
        self.uploaded: list[str] = []
        self.not_started: list[float] = []

    async def upload(self, cloud: CloudClient, client: str, name: str) -> None:
        try:
            await cloud.upload(
                client_id=client, license_id=LICENCE, name=name, data=b"{}"
            )
        except UploadNotStarted:
            self.not_started.append(time.monotonic())
        else:
            self.uploaded.append(name)


async def wait_until(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` until it holds; fail after a few seconds."""
    # Polled: the conditions are counters of the client, which has no events.
    for _ in range(1000):
        if condition():
            return
        await anyio.sleep(0.005)
    raise AssertionError("the condition did not come true")


async def test_stop_ends_rate_limiter_waits_and_lets_the_sent_one_finish() -> None:
    """At 1 upload/s with 16 workers: after a stop, one upload lands, 15 stop."""
    config = SimulatorConfig(latency=0.3)
    outcomes = Outcomes()
    async with Simulator(config) as sim:
        settings = cloud_settings(sim, rate=1.0, concurrency=16)
        async with CloudClient(settings, token_store=MemoryTokenStore()) as cloud:
            await cloud.logon()
            async with anyio.create_task_group() as tg:
                for n in range(16):
                    tg.start_soon(outcomes.upload, cloud, "pos-a", f"r-{n}.json")
                # The first upload is on the wire (0.3 s of latency ahead);
                # the other fifteen wait for the limiter, up to 15 s.
                await wait_until(lambda: cloud.statistics().uploads_attempted == 1)
                stopped_at = time.monotonic()
                cloud.stop_new_requests()
            statistics = cloud.statistics()
        received = sim.received()

    assert outcomes.uploaded == ["r-0.json"]
    assert len(outcomes.not_started) == 15
    assert max(outcomes.not_started) - stopped_at < PROMPT
    assert [r.name for r in received] == ["r-0.json"]
    assert statistics.uploads_attempted == 1
    assert statistics.uploads_ok == 1


async def test_stop_ends_a_retry_after_wait_without_another_attempt() -> None:
    """An upload told to come back in 10 s stops at once; no second attempt."""
    config = SimulatorConfig(upload_rate_limit=0.1)
    outcomes = Outcomes()
    async with Simulator(config) as sim:
        async with CloudClient(
            cloud_settings(sim), token_store=MemoryTokenStore()
        ) as cloud:
            await outcomes.upload(cloud, "pos-a", "first.json")
            async with anyio.create_task_group() as tg:
                tg.start_soon(outcomes.upload, cloud, "pos-a", "second.json")
                await wait_until(lambda: cloud.statistics().throttled == 1)
                stopped_at = time.monotonic()
                cloud.stop_new_requests()
        stats = sim.stats()

    assert outcomes.uploaded == ["first.json"]
    assert len(outcomes.not_started) == 1
    assert outcomes.not_started[0] - stopped_at < PROMPT
    assert stats.calls["upload"] == {200: 1, 429: 1}


async def test_stop_ends_waits_for_licence_tokens_without_a_licence_call() -> None:
    """Uploads waiting for a paced licence fetch stop; the fetch is not sent."""
    outcomes = Outcomes()
    async with Simulator(SimulatorConfig()) as sim:
        settings = cloud_settings(sim, licence_rate=0.2)
        async with CloudClient(settings, token_store=MemoryTokenStore()) as cloud:
            await outcomes.upload(cloud, "pos-a", "a.json")
            async with anyio.create_task_group() as tg:
                # pos-b's licence call must wait 5 s behind pos-a's.
                for n in range(3):
                    tg.start_soon(outcomes.upload, cloud, "pos-b", f"b-{n}.json")
                await anyio.sleep(0.05)
                stopped_at = time.monotonic()
                cloud.stop_new_requests()
            statistics = cloud.statistics()
        stats = sim.stats()

    assert outcomes.uploaded == ["a.json"]
    assert len(outcomes.not_started) == 3
    assert max(outcomes.not_started) - stopped_at < PROMPT
    assert stats.calls["licence"] == {200: 1}
    assert stats.total("upload") == 1
    # A stop is not a licence failure: the next run asks for pos-b as usual.
    assert statistics.licence_failures == 0


async def test_uploads_after_a_stop_send_nothing(simulator: Simulator) -> None:
    """Once stopped, an upload raises UploadNotStarted without any request."""
    async with CloudClient(
        cloud_settings(simulator), token_store=MemoryTokenStore()
    ) as cloud:
        await cloud.logon()
        cloud.stop_new_requests()
        with pytest.raises(UploadNotStarted, match="next run sends it"):
            await cloud.upload(
                client_id="pos-a", license_id=LICENCE, name="r.json", data=b"{}"
            )
        statistics = cloud.statistics()

    assert statistics.uploads_attempted == 0
    assert simulator.stats().total("licence") == 0
    assert simulator.stats().total("upload") == 0
