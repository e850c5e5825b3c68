"""Canary credentials and tokens never show up in logs, errors or reprs."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import anyio
import pytest

from bulk_uploader.clock import FakeClock
from bulk_uploader.cloud import CloudClient, CloudSettings, MemoryTokenStore
from bulk_uploader.errors import CloudError
from bulk_uploader.simulator import Simulator, SimulatorConfig

pytestmark = pytest.mark.anyio

CANARY_KEY = "canary-key-3f9a1c"
CANARY_SECRET = "canary-secret-8d2e7b"
LICENCE = "licence-1"
# Every token of the simulator is a JWT, and every JWT starts with "eyJ"
# (base64 of `{"`): any piece of one this long counts as a leak.
JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]{8,}")


def canary_settings(sim: Simulator, **overrides: Any) -> CloudSettings:
    values: dict[str, Any] = {
        "api_key": CANARY_KEY,
        "api_secret": CANARY_SECRET,
        "api_url": sim.url,
        "functions_url": sim.url,
        "licence_rate": 1000.0,
        "max_attempts": 30,
    }
    values.update(overrides)
    return CloudSettings(**values)


async def test_no_secret_or_token_in_logs_errors_or_reprs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Through faults, revocation, refusals and a block, nothing leaks."""
    caplog.set_level(logging.DEBUG)
    config = SimulatorConfig(
        credentials={CANARY_KEY: CANARY_SECRET},
        licences={(f"pos-{n}", LICENCE) for n in range(4)},
        fault_rate=0.2,
        drop_rate=0.1,
        revoke_after_uploads=15,
        max_body_size=1000,
        licence_limit=5,
        seed=5,
    )
    seen: list[str] = []
    store = MemoryTokenStore()
    clock = FakeClock(start=time.time())

    async def attempt(cloud: CloudClient, client: str, name: str, size: int) -> None:
        try:
            await cloud.upload(
                client_id=client, license_id=LICENCE, name=name, data=b"x" * size
            )
        except CloudError as exc:
            seen.extend([str(exc), repr(exc), str(exc.__cause__)])

    async with Simulator(config) as sim:
        settings = canary_settings(sim)
        async with CloudClient(settings, token_store=store, clock=clock) as cloud:
            await cloud.logon()
            async with anyio.create_task_group() as tg:
                for n in range(60):
                    # pos-4 and pos-5 have no licence; pos-6.. meet the block.
                    client = f"pos-{n % 8}"
                    size = 5000 if n % 13 == 0 else 10
                    tg.start_soon(attempt, cloud, client, f"r-{n}.json", size)
            seen.extend([repr(cloud), repr(cloud.statistics())])

        wrong = canary_settings(sim, api_secret=CANARY_SECRET + "-wrong")
        async with CloudClient(wrong, token_store=MemoryTokenStore()) as refused:
            try:
                await refused.logon()
            except CloudError as exc:
                seen.extend([str(exc), repr(exc)])
        seen.extend([repr(settings), repr(wrong), repr(store)])
        stats = sim.stats()

    tokens = [
        token.token
        for n in range(8)
        if (token := store.load_licence_token(f"pos-{n}", LICENCE)) is not None
    ]
    seen.extend(repr(store.load_licence_token(f"pos-{n}", LICENCE)) for n in range(8))
    seen.append(caplog.text)
    seen.extend(record.getMessage() for record in caplog.records)

    # The scenario really went through the paths that could leak.
    assert tokens
    assert stats.total("upload", 200) > 0
    assert stats.total("upload", 403) > 0
    assert stats.total("upload", 413) > 0
    assert stats.total("licence", 404) > 0
    assert stats.total("logon", 401) == 1
    assert "upload retry:" in caplog.text

    everything = "\n".join(seen)
    for secret in (CANARY_KEY, CANARY_SECRET, *tokens):
        assert secret not in everything
    assert not JWT_SHAPE.search(everything)
