"""Rate limits on top of the ``limits`` library: in process on the embedded default, in Redis (shared
by every instance) when ``TOKENSMITH_REDIS_URL`` is set."""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter


class RateLimiter:
    def __init__(self, redis_url: str | None) -> None:
        self.storage: Storage
        if redis_url:
            uri = redis_url if redis_url.startswith("async+") else f"async+{redis_url}"
            self.storage = RedisStorage(uri, implementation="redispy", key_prefix="tokensmith-rl")
        else:
            self.storage = MemoryStorage()
        self._limiter = FixedWindowRateLimiter(self.storage)
        self._items: dict[int, RateLimitItem] = {}
        self._shared = bool(redis_url)
        # In-process storage: identifiers counted in the last minute. A check for anything else is
        # answered without touching the limiter (the common case on hot paths: nobody has failed).
        self._recent: dict[tuple[str, ...], float] = {}

    def _per_minute(self, amount: int) -> RateLimitItem:
        item = self._items.get(amount)
        if item is None:
            item = self._items[amount] = RateLimitItemPerMinute(amount)
        return item

    async def hit(self, per_minute: int, *identifiers: str) -> int | None:
        """Count one use. Returns None when allowed, else the seconds until the window resets."""
        item = self._per_minute(per_minute)
        if not self._shared:
            if len(self._recent) > 100_000:
                cutoff = time.monotonic() - 61
                self._recent = {k: v for k, v in self._recent.items() if v > cutoff}
            self._recent[identifiers] = time.monotonic()
        if await self._limiter.hit(item, *identifiers):
            return None
        return await self.retry_after(per_minute, *identifiers)

    async def exceeded(self, per_minute: int, *identifiers: str) -> int | None:
        """Like :meth:`hit` without counting: None when there is room left."""
        if not self._shared:
            last = self._recent.get(identifiers)
            if last is None or time.monotonic() - last > 61:
                return None
        item = self._per_minute(per_minute)
        if await self._limiter.test(item, *identifiers):
            return None
        return await self.retry_after(per_minute, *identifiers)

    async def retry_after(self, per_minute: int, *identifiers: str) -> int:
        stats = await self._limiter.get_window_stats(self._per_minute(per_minute), *identifiers)
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def clear(self, per_minute: int, *identifiers: str) -> None:
        await self._limiter.clear(self._per_minute(per_minute), *identifiers)
