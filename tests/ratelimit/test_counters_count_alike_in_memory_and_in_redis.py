"""The one counting core (``tokensmith.ratelimit``): the same operations with the same answers in process
memory (on an injected clock) and in the real Redis, batches granted atomically however many ask at once,
and the fall-back to this process's memory while Redis is unreachable (a test-owned TCP proxy cut), shared
again once it is back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis

from tests.support import TcpProxy
from tokensmith.clock import ManualClock
from tokensmith.ids import random_token
from tokensmith.ratelimit import Counters, MemoryCounters, RateLimiter, RedisCounters
from tokensmith.ratelimit.counters import CounterStore


@dataclass
class Store:
    counters: CounterStore
    #: moves the store's time on by that many seconds (the memory store's clock; Redis: real sleeping)
    clock: ManualClock | None


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    if request.param == "memory":
        clock = ManualClock()
        yield Store(MemoryCounters(clock), clock)
        return
    redis = Redis.from_url(request.getfixturevalue("redis_url"))
    try:
        yield Store(RedisCounters(redis, f"test-{random_token(6)}:"), None)
    finally:
        await redis.aclose()


async def _expire(store: Store, seconds: float) -> None:
    if store.clock is not None:
        store.clock.advance(seconds)
    else:
        await asyncio.sleep(seconds)


async def test_a_window_opens_with_its_first_use_and_expires_with_its_ttl(store: Store) -> None:
    counters = store.counters
    assert await counters.get("w") == (0, None)
    count, left = await counters.incr("w", 0.3)
    assert count == 1 and 0 < left <= 0.3
    count, left = await counters.incr("w", 5, amount=2)  # an open window keeps its expiry
    assert count == 3 and left <= 0.3
    await _expire(store, 0.4)
    assert await counters.get("w") == (0, None)
    assert (await counters.incr("w", 60))[0] == 1


async def test_refresh_restarts_the_ttl_on_every_increment(store: Store) -> None:
    counters = store.counters
    await counters.incr("r", 0.3, refresh=True)
    await _expire(store, 0.2)
    count, left = await counters.incr("r", 0.3, refresh=True)
    assert count == 2 and left > 0.2
    await _expire(store, 0.2)
    assert (await counters.get("r"))[0] == 2  # 0.4 s after the first increment, still counted


async def test_take_grants_only_what_the_window_has_left(store: Store) -> None:
    counters = store.counters
    assert (await counters.take("t", 60, 10, 4))[0] == 4
    assert (await counters.take("t", 60, 10, 4))[0] == 4
    granted, left = await counters.take("t", 60, 10, 4)
    assert granted == 2 and 59 < left <= 60
    assert (await counters.take("t", 60, 10, 4))[0] == 0
    assert (await counters.get("t"))[0] == 10  # a refused take adds nothing


async def test_concurrent_takes_never_grant_beyond_the_limit(store: Store) -> None:
    grants = await asyncio.gather(*(store.counters.take("c", 60, 100, 7) for _ in range(40)))
    assert sum(g for g, _ in grants) == 100
    assert (await store.counters.get("c"))[0] == 100


async def test_decr_gives_back_one_and_never_goes_below_zero(store: Store) -> None:
    counters = store.counters
    await counters.incr("d", 60, amount=2)
    await counters.decr("d")
    assert (await counters.get("d"))[0] == 1
    await counters.decr("d")
    await counters.decr("d")
    assert (await counters.get("d"))[0] == 0
    await counters.decr("absent")
    assert (await counters.get("absent")) == (0, None)


async def test_set_marks_a_key_for_a_while_and_delete_removes_it(store: Store) -> None:
    counters = store.counters
    await counters.incr("s", 60, amount=5)
    await counters.set("s", 0.3)
    count, left = await counters.get("s")
    assert count == 1 and left is not None and 0 < left <= 0.3
    await counters.delete("s")
    assert await counters.get("s") == (0, None)
    await counters.set("s", 0.2)
    await _expire(store, 0.3)
    assert await counters.get("s") == (0, None)


def test_the_memory_windows_answer_synchronously_on_the_injected_clock() -> None:
    clock = ManualClock()
    limiter = RateLimiter(clock)
    assert [limiter.local_hit(2, "apikey", "k") for _ in range(3)] == [None, None, 60]
    clock.advance(59.5)
    assert limiter.local_hit(2, "apikey", "k") == 1
    clock.advance(1)
    assert limiter.local_hit(2, "apikey", "k") is None


@pytest.mark.redis
async def test_counting_falls_back_to_process_memory_while_redis_is_away(
        redis_proxy: tuple[TcpProxy, str], caplog: pytest.LogCaptureFixture) -> None:
    proxy, url = redis_proxy
    redis = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    counters = Counters(ManualClock(), redis, f"test-{random_token(6)}")
    try:
        assert (await counters.incr("k", 60))[0] == 1
        assert await counters.shared.get("k") == (1, pytest.approx(60, abs=1))  # type: ignore[union-attr]
        proxy.cut()
        assert (await counters.incr("k", 60))[0] == 1  # this process's own count starts afresh
        assert (await counters.incr("k", 60))[0] == 2
        assert "shared counters unavailable" in caplog.text
        proxy.restore()
        assert (await counters.incr("k", 60))[0] == 2  # shared again: Redis's count goes on
    finally:
        await redis.aclose()
