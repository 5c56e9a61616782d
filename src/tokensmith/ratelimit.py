"""Rate limits on top of the ``limits`` library: in process on the embedded default, in Redis (shared
by every instance) when ``TOKENSMITH_REDIS_URL`` is set.

Failure throttles (client authentication, guessed user tokens) are *checked* on every request but only
*counted* on failures, which are rare. :meth:`RateLimiter.exceeded` therefore first asks a local set of the
identifiers that failed somewhere in the last minute, and goes to the shared counter only for those: with
Redis, every counted failure is announced on a pub/sub channel and every process adds it to its set. A
request with no recent failure anywhere — the normal case — costs no Redis round trip. While a process is
not subscribed (start-up, Redis trouble) it checks the shared counter on every request, as without the
set; between a failure on one instance and its announcement on another (about a millisecond) the other
instance may still let one attempt through. While Redis is unreachable every process counts on its own.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
from limits import RateLimitItem, RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter
from redis.asyncio import Redis

from tokensmith.storage.db import is_outage

log = logging.getLogger("tokensmith.ratelimit")
T = TypeVar("T")
ANNOUNCE_CHANNEL = "ratelimit-failures"  # under the deployment's redis_namespace
RECENT = 61.0  # seconds a failure keeps its identifiers "recent" (the windows are one minute)


class RateLimiter:
    def __init__(self, redis_url: str | None, redis: Redis | None = None, namespace: str = "tokensmith") -> None:
        self._channel = f"{namespace}:{ANNOUNCE_CHANNEL}"
        self.storage: Storage
        if redis_url:
            uri = redis_url if redis_url.startswith("async+") else f"async+{redis_url}"
            # On the runtime's connection pool when there is one: its timeouts apply, and closing the
            # runtime's client closes the limiter's connections too (none is left to the garbage collector).
            pool: dict[str, Any] = {"connection_pool": redis.connection_pool} if redis is not None else {}
            self.storage = RedisStorage(uri, implementation="redispy", key_prefix=f"{namespace}-rl", **pool)
        else:
            self.storage = MemoryStorage()
        self._limiter = FixedWindowRateLimiter(self.storage)
        # While Redis is unreachable the process counts on its own (logged): the token endpoints keep
        # working and failures are still throttled, per process, instead of every request failing.
        self._fallback = FixedWindowRateLimiter(MemoryStorage()) if redis_url else None
        self._fallback_logged = 0.0
        self._items: dict[int, RateLimitItem] = {}
        self._shared = bool(redis_url)
        # Identifiers counted (here, or announced by another process) in the last minute. A check for
        # anything else is answered without touching the limiter (the common case on hot paths).
        self._recent: dict[tuple[str, ...], float] = {}
        self._redis = redis
        self._subscribed = False
        self._listener: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._shared and self._redis is not None and self._listener is None:
            self._listener = asyncio.create_task(self._listen(self._redis), name="rate-limit-announcements")

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            try:
                await self._listener
            except asyncio.CancelledError:
                pass
            self._listener = None
        self._subscribed = False

    @property
    def knows_recent_failures(self) -> bool:
        """True when the local set is complete: in process, or subscribed to the announcements."""
        return not self._shared or self._subscribed

    def recently_failed(self, *identifiers: str) -> bool:
        last = self._recent.get(identifiers)
        return last is not None and time.monotonic() - last <= RECENT

    def _note(self, identifiers: tuple[str, ...]) -> None:
        now = time.monotonic()
        if len(self._recent) > 100_000:
            self._recent = {k: v for k, v in self._recent.items() if v > now - RECENT}
        self._recent[identifiers] = now

    async def _listen(self, redis: Redis) -> None:
        while True:
            pubsub = redis.pubsub()
            try:
                await pubsub.subscribe(self._channel)
                async for message in pubsub.listen():
                    kind = message.get("type")
                    if kind == "subscribe":
                        self._subscribed = True
                    elif kind == "message":
                        identifiers = orjson.loads(message["data"])
                        if isinstance(identifiers, list) and all(isinstance(i, str) for i in identifiers):
                            self._note(tuple(identifiers))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("rate-limit announcements lost (%s); checking the shared counter on every request",
                            type(exc).__name__)
            finally:
                self._subscribed = False
                try:
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py: PubSub.aclose lacks annotations
                except Exception:  # noqa: S110 - the connection is already gone
                    pass
            await asyncio.sleep(1)

    def _per_minute(self, amount: int) -> RateLimitItem:
        item = self._items.get(amount)
        if item is None:
            item = self._items[amount] = RateLimitItemPerMinute(amount)
        return item

    async def hit(self, per_minute: int, *identifiers: str, announce: bool = False) -> int | None:
        """Count one use. Returns None when allowed, else the seconds until the window resets.
        ``announce``: a failure that :meth:`exceeded` checks for — tell every process about it."""
        item = self._per_minute(per_minute)
        if not self._shared or announce:
            self._note(identifiers)
        allowed = await self._counted(lambda limiter: limiter.hit(item, *identifiers))
        if announce and self._shared and self._redis is not None:
            try:
                await self._redis.publish(self._channel, orjson.dumps(identifiers))
            except Exception as exc:
                log.warning("rate-limit announcement failed: %s", type(exc).__name__)
        if allowed:
            return None
        return await self.retry_after(per_minute, *identifiers)

    async def exceeded(self, per_minute: int, *identifiers: str) -> int | None:
        """Like :meth:`hit` without counting: None when there is room left."""
        if self.knows_recent_failures and not self.recently_failed(*identifiers):
            return None
        item = self._per_minute(per_minute)
        if await self._counted(lambda limiter: limiter.test(item, *identifiers)):
            return None
        return await self.retry_after(per_minute, *identifiers)

    async def take(self, per_minute: int, wanted: int, *identifiers: str) -> tuple[int, float]:
        """Count up to ``wanted`` uses at once: (how many were granted, the window's reset time as a Unix
        time). Grants no more than the window has left, so a batch never eats the others' share."""
        item = self._per_minute(per_minute)
        stats = await self._limiter.get_window_stats(item, *identifiers)
        amount = min(wanted, stats.remaining)
        if amount <= 0:
            return 0, stats.reset_time
        if not await self._limiter.hit(item, *identifiers, cost=amount):
            return 0, (await self._limiter.get_window_stats(item, *identifiers)).reset_time
        reset = stats.reset_time
        if reset <= time.time() + 1:  # the window was opened by this hit: read its end
            reset = (await self._limiter.get_window_stats(item, *identifiers)).reset_time
        return amount, reset

    async def retry_after(self, per_minute: int, *identifiers: str) -> int:
        item = self._per_minute(per_minute)
        stats = await self._counted(lambda limiter: limiter.get_window_stats(item, *identifiers))
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def clear(self, per_minute: int, *identifiers: str) -> None:
        item = self._per_minute(per_minute)
        await self._counted(lambda limiter: limiter.clear(item, *identifiers))

    async def _counted(self, operation: Callable[[FixedWindowRateLimiter], Awaitable[T]]) -> T:
        """The shared limiter's answer; while Redis is unreachable, this process's own."""
        try:
            return await operation(self._limiter)
        except Exception as exc:
            if self._fallback is None or not is_outage(exc):
                raise
            if time.monotonic() - self._fallback_logged > 30:
                self._fallback_logged = time.monotonic()
                log.warning("shared rate limits unavailable (%s); counting per process", type(exc).__name__)
            return await operation(self._fallback)
