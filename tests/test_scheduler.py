"""The round-robin scheduler: fairness, bounds, licence probes, stopping."""

from __future__ import annotations

from dataclasses import dataclass

import anyio
import pytest

from bulk_uploader.scheduler import ClientScheduler

pytestmark = pytest.mark.anyio


@dataclass(frozen=True)
class Job:
    client: str
    number: int

    size: int = 1

    @property
    def client_key(self) -> tuple[str, str]:
        return self.client, "licence"


def always_licensed(client: str, licence: str) -> bool:
    return True


async def drain(scheduler: ClientScheduler[Job]) -> list[Job]:
    jobs = []
    while (job := await scheduler.get()) is not None:
        jobs.append(job)
        scheduler.done(job)
    return jobs


async def test_clients_are_served_in_turn() -> None:
    """A client with many receipts does not delay one with few."""
    scheduler: ClientScheduler[Job] = ClientScheduler(
        100, max_bytes=10**9, has_licence=always_licensed
    )
    for number in range(10):
        await scheduler.put(Job("big", number))
    await scheduler.put(Job("small", 0))
    scheduler.close()

    order = [job.client for job in await drain(scheduler)]

    assert order[:2] == ["big", "small"]
    assert order.count("big") == 10


async def test_put_waits_while_the_window_is_full() -> None:
    """The look-ahead window bounds memory: the 4th put waits for a get."""
    scheduler: ClientScheduler[Job] = ClientScheduler(
        3, max_bytes=10**9, has_licence=always_licensed
    )
    for number in range(3):
        await scheduler.put(Job("a", number))

    with anyio.move_on_after(0.05) as scope:
        await scheduler.put(Job("a", 3))
    assert scope.cancelled_caught
    assert len(scheduler) == 3

    await scheduler.get()
    with anyio.fail_after(1):
        await scheduler.put(Job("a", 4))
    assert len(scheduler) == 3


async def test_a_client_without_licence_sends_one_probe_first() -> None:
    """Until the first receipt of an unlicensed client returns, its others wait."""
    scheduler: ClientScheduler[Job] = ClientScheduler(
        100, max_bytes=10**9, has_licence=lambda client, licence: client != "new"
    )
    for number in range(3):
        await scheduler.put(Job("new", number))
    await scheduler.put(Job("old", 0))
    scheduler.close()

    probe = await scheduler.get()
    assert probe == Job("new", 0)
    second = await scheduler.get()
    assert second == Job("old", 0)
    with anyio.move_on_after(0.05) as scope:
        await scheduler.get()
    assert scope.cancelled_caught, "the other receipts of 'new' must wait"

    scheduler.done(probe)
    rest = await drain(scheduler)
    assert rest == [Job("new", 1), Job("new", 2)]


async def test_stop_hands_out_nothing_more() -> None:
    """After stop, get returns None even with receipts queued, and put returns."""
    scheduler: ClientScheduler[Job] = ClientScheduler(
        2, max_bytes=10**9, has_licence=always_licensed
    )
    await scheduler.put(Job("a", 0))
    await scheduler.put(Job("a", 1))
    scheduler.stop()

    assert await scheduler.get() is None
    with anyio.fail_after(1):
        await scheduler.put(Job("a", 2))


async def test_get_returns_none_once_closed_and_drained() -> None:
    """Uploaders end when the sources are exhausted and every job was taken."""
    scheduler: ClientScheduler[Job] = ClientScheduler(
        4, max_bytes=10**9, has_licence=always_licensed
    )
    await scheduler.put(Job("a", 0))
    scheduler.close()
    assert await scheduler.get() == Job("a", 0)
    assert await scheduler.get() is None


def test_capacity_must_be_positive() -> None:
    """A zero-sized window is a programming error, said plainly."""
    with pytest.raises(ValueError, match="capacity"):
        ClientScheduler(0, max_bytes=1, has_licence=always_licensed)


async def test_the_window_is_bounded_in_bytes_too() -> None:
    """Large receipts fill the window by size long before its count."""
    scheduler: ClientScheduler[Job] = ClientScheduler(
        1000, max_bytes=100, has_licence=always_licensed
    )
    await scheduler.put(Job("a", 0, size=60))
    await scheduler.put(Job("a", 1, size=60))
    with anyio.move_on_after(0.05) as scope:
        await scheduler.put(Job("a", 2, size=60))
    assert scope.cancelled_caught
    assert len(scheduler) == 2

    await scheduler.get()
    await scheduler.get()
    with anyio.fail_after(1):
        await scheduler.put(Job("a", 3, size=500))
    assert len(scheduler) == 1, "one receipt larger than the window still gets in"
