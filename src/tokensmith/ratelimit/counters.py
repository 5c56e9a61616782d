"""The counting core: expiring counters, in process memory (on the runtime's clock) or in Redis (atomic
scripts, shared by every instance and worker), with the same five operations either way.

Every rate limit and lockout of the service is one of these counters: fixed one-minute windows (a window
opens with its first use and a key's count expires with it), reservations that are given back, and locks
that only need to exist for a while. :class:`Counters` is what the features use: Redis when configured,
and — while Redis is unreachable — this process's own memory (logged), so that sign-in and the token
endpoints keep working and keep throttling, per process, instead of failing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol, TypeVar

from tokensmith.clock import Clock
from tokensmith.storage.db import is_outage

if TYPE_CHECKING:
    from redis.asyncio import Redis  # only configured deployments import redis

log = logging.getLogger("tokensmith.ratelimit")
T = TypeVar("T")
MAX_LOCAL_KEYS = 200_000


class CounterStore(Protocol):
    async def incr(self, key: str, ttl: float, amount: int = 1, *, refresh: bool = False) -> tuple[int, float]:
        """Add ``amount``; the count and the seconds it has left. A new key lives ``ttl`` seconds (with
        ``refresh``, every increment starts its ``ttl`` again)."""
        ...

    async def take(self, key: str, ttl: float, limit: int, wanted: int) -> tuple[int, float]:
        """Add as much of ``wanted`` as keeps the count within ``limit``, atomically: (added, seconds left)."""
        ...

    async def get(self, key: str) -> tuple[int, float | None]:
        """The count (0 when absent) and the seconds it has left (None when absent)."""
        ...

    async def decr(self, key: str) -> None:
        """Give one back (never below zero; the expiry stays)."""
        ...

    async def set(self, key: str, ttl: float) -> None:
        """The key exists (count 1) for ``ttl`` seconds from now, whatever it held."""
        ...

    async def delete(self, key: str) -> None: ...


class MemoryCounters:
    """Counters in this process's memory. The synchronous :meth:`incr_now` is the embedded default's hot
    path (a per-key API limit at thousands of exchanges per second pays no coroutine for it)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._values: dict[str, list[float]] = {}  # key -> [count, expires_at]

    def _live(self, key: str, now: float) -> list[float] | None:
        entry = self._values.get(key)
        if entry is not None and entry[1] <= now:
            del self._values[key]
            return None
        return entry

    def _new(self, key: str, now: float, ttl: float) -> list[float]:
        if len(self._values) >= MAX_LOCAL_KEYS:
            self._values = {k: v for k, v in self._values.items() if v[1] > now}
        entry = self._values[key] = [0, now + ttl]
        return entry

    def incr_now(self, key: str, ttl: float, amount: int = 1, *, refresh: bool = False) -> tuple[int, float]:
        now = self._clock.now()
        entry = self._live(key, now) or self._new(key, now, ttl)
        entry[0] += amount
        if refresh:
            entry[1] = now + ttl
        return int(entry[0]), entry[1] - now

    async def incr(self, key: str, ttl: float, amount: int = 1, *, refresh: bool = False) -> tuple[int, float]:
        return self.incr_now(key, ttl, amount, refresh=refresh)

    async def take(self, key: str, ttl: float, limit: int, wanted: int) -> tuple[int, float]:
        now = self._clock.now()
        entry = self._live(key, now)
        granted = min(wanted, limit - int(entry[0]) if entry is not None else limit)
        if granted <= 0:
            return 0, entry[1] - now if entry is not None else ttl
        entry = entry or self._new(key, now, ttl)
        entry[0] += granted
        return granted, entry[1] - now

    async def get(self, key: str) -> tuple[int, float | None]:
        now = self._clock.now()
        entry = self._live(key, now)
        return (0, None) if entry is None else (int(entry[0]), entry[1] - now)

    async def decr(self, key: str) -> None:
        entry = self._live(key, self._clock.now())
        if entry is not None:
            entry[0] = max(0, entry[0] - 1)

    async def set(self, key: str, ttl: float) -> None:
        self._values[key] = [1, self._clock.now() + ttl]

    async def delete(self, key: str) -> None:
        self._values.pop(key, None)


# Each script answers the count with the milliseconds left (PTTL), so no caller needs a second round trip.
_INCR = """
local v = redis.call('INCRBY', KEYS[1], ARGV[2])
if v == tonumber(ARGV[2]) or ARGV[3] == '1' then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {v, redis.call('PTTL', KEYS[1])}
"""
_TAKE = """
local v = tonumber(redis.call('GET', KEYS[1]) or '0')
local granted = math.min(tonumber(ARGV[3]), tonumber(ARGV[2]) - v)
if granted <= 0 then return {0, redis.call('PTTL', KEYS[1])} end
if redis.call('INCRBY', KEYS[1], granted) == granted then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {granted, redis.call('PTTL', KEYS[1])}
"""
_GET = """
return {tonumber(redis.call('GET', KEYS[1]) or '0'), redis.call('PTTL', KEYS[1])}
"""
_DECR = """
local v = tonumber(redis.call('GET', KEYS[1]) or '0')
if v > 0 then redis.call('DECR', KEYS[1]) end
return v
"""


def _seconds(ms: int, default: float | None) -> float | None:
    return ms / 1000 if ms >= 0 else default  # -2: no such key, -1: no expiry (not written by us)


class RedisCounters:
    """The same counters in Redis, one atomic script per operation."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.prefix = prefix
        self._redis = redis
        self._incr = redis.register_script(_INCR)
        self._take = redis.register_script(_TAKE)
        self._get = redis.register_script(_GET)
        self._decr = redis.register_script(_DECR)

    async def incr(self, key: str, ttl: float, amount: int = 1, *, refresh: bool = False) -> tuple[int, float]:
        count, ms = await self._incr(keys=[self.prefix + key],
                                     args=[max(1, int(ttl * 1000)), amount, "1" if refresh else "0"])
        return int(count), _seconds(int(ms), ttl) or ttl

    async def take(self, key: str, ttl: float, limit: int, wanted: int) -> tuple[int, float]:
        granted, ms = await self._take(keys=[self.prefix + key], args=[max(1, int(ttl * 1000)), limit, wanted])
        return int(granted), _seconds(int(ms), ttl) or ttl

    async def get(self, key: str) -> tuple[int, float | None]:
        count, ms = await self._get(keys=[self.prefix + key])
        return int(count), _seconds(int(ms), None)

    async def decr(self, key: str) -> None:
        await self._decr(keys=[self.prefix + key])

    async def set(self, key: str, ttl: float) -> None:
        await self._redis.set(self.prefix + key, 1, px=max(1, int(ttl * 1000)))

    async def delete(self, key: str) -> None:
        await self._redis.delete(self.prefix + key)


class Counters:
    """The counters features use: shared in Redis when configured, else (and while Redis is unreachable)
    in this process's memory."""

    def __init__(self, clock: Clock, redis: Redis | None = None, namespace: str = "tokensmith") -> None:
        self.local = MemoryCounters(clock)
        self.shared: RedisCounters | None = (
            RedisCounters(redis, f"{namespace}:counters:") if redis is not None else None)
        self._fallback_logged = 0.0

    async def _run(self, operation: Callable[[CounterStore], Awaitable[T]]) -> T:
        if self.shared is None:
            return await operation(self.local)
        try:
            return await operation(self.shared)
        except Exception as exc:
            if not is_outage(exc):
                raise
            if time.monotonic() - self._fallback_logged > 30:
                self._fallback_logged = time.monotonic()
                log.warning("shared counters unavailable (%s); counting per process", type(exc).__name__)
            return await operation(self.local)

    async def incr(self, key: str, ttl: float, amount: int = 1, *, refresh: bool = False) -> tuple[int, float]:
        return await self._run(lambda store: store.incr(key, ttl, amount, refresh=refresh))

    async def take(self, key: str, ttl: float, limit: int, wanted: int) -> tuple[int, float]:
        return await self._run(lambda store: store.take(key, ttl, limit, wanted))

    async def get(self, key: str) -> tuple[int, float | None]:
        return await self._run(lambda store: store.get(key))

    async def decr(self, key: str) -> None:
        await self._run(lambda store: store.decr(key))

    async def set(self, key: str, ttl: float) -> None:
        await self._run(lambda store: store.set(key, ttl))

    async def delete(self, key: str) -> None:
        await self._run(lambda store: store.delete(key))

    async def ttl(self, key: str) -> float | None:
        """Seconds the key has left, None when absent."""
        return (await self.get(key))[1]
