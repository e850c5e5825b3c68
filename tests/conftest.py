"""Fixtures shared by the whole suite: a real simulator on 127.0.0.1:0."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from bulk_uploader.simulator import Simulator, SimulatorConfig


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    """A simulator with default settings, listening on a free loopback port."""
    async with Simulator(SimulatorConfig()) as sim:
        yield sim


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp client, for tests that speak HTTP to a simulator."""
    async with aiohttp.ClientSession() as client:
        yield client
