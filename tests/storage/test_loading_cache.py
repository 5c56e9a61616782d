"""The hot-path cache: concurrent misses share one load, a change notification is never undone by a load
that was already in flight, and a cancelled request does not cancel the load for the others."""

from __future__ import annotations

import asyncio

import pytest

from tokensmith.storage.cache import LoadingCache


class Source:
    """A slow backing store that counts its reads; ``gate`` holds every read until it is set."""

    def __init__(self, value: str) -> None:
        self.value = value
        self.reads = 0
        self.gate = asyncio.Event()

    async def read(self) -> str:
        self.reads += 1
        seen = self.value
        await self.gate.wait()
        return seen


async def test_concurrent_misses_share_one_load() -> None:
    cache: LoadingCache[str, str] = LoadingCache(max_entries=10)
    source = Source("v1")
    waiters = [asyncio.create_task(cache.get("k", source.read, lambda _: 60)) for _ in range(50)]
    await asyncio.sleep(0)
    source.gate.set()
    assert await asyncio.gather(*waiters) == ["v1"] * 50
    assert source.reads == 1
    assert await cache.get("k", source.read, lambda _: 60) == "v1"
    assert source.reads == 1  # cached


async def test_an_expired_entry_is_loaded_again() -> None:
    cache: LoadingCache[str, str] = LoadingCache(max_entries=10)
    source = Source("v1")
    source.gate.set()
    assert await cache.get("k", source.read, lambda _: 0) == "v1"
    source.value = "v2"
    assert await cache.get("k", source.read, lambda _: 0) == "v2"
    assert source.reads == 2


async def test_a_load_in_flight_during_an_invalidation_is_not_cached_nor_joined() -> None:
    cache: LoadingCache[str, str] = LoadingCache(max_entries=10)
    source = Source("before")
    early = asyncio.create_task(cache.get("k", source.read, lambda _: 60))
    while source.reads < 1:
        await asyncio.sleep(0)
    # the change commits and its notification arrives while the first read is still out
    source.value = "after"
    cache.invalidate("k")
    late = asyncio.create_task(cache.get("k", source.read, lambda _: 60))
    while source.reads < 2:
        await asyncio.sleep(0)
    source.gate.set()
    assert await early == "before"  # the request that was already waiting gets what it asked for
    assert await late == "after"  # a request after the notification never sees the old value
    assert source.reads == 2
    assert await cache.get("k", source.read, lambda _: 60) == "after"
    assert source.reads == 2


async def test_a_cancelled_request_does_not_cancel_the_shared_load() -> None:
    cache: LoadingCache[str, str] = LoadingCache(max_entries=10)
    source = Source("v1")
    first = asyncio.create_task(cache.get("k", source.read, lambda _: 60))
    second = asyncio.create_task(cache.get("k", source.read, lambda _: 60))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    source.gate.set()
    assert await second == "v1"
    with pytest.raises(asyncio.CancelledError):
        await first
    assert source.reads == 1


async def test_a_failed_load_reaches_every_waiter_and_is_not_cached() -> None:
    cache: LoadingCache[str, str] = LoadingCache(max_entries=10)
    calls = 0

    async def broken() -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        raise ConnectionError("database down")

    results = await asyncio.gather(*(cache.get("k", broken, lambda _: 60) for _ in range(5)),
                                   return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    assert calls == 1
    with pytest.raises(ConnectionError):
        await cache.get("k", broken, lambda _: 60)
    assert calls == 2
