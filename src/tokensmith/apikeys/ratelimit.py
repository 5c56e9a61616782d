"""Per-key rate limits: requests per minute, fixed windows, counted by the one counting core
(:mod:`tokensmith.ratelimit`); what is here is the API keys' policy on top of it.

* Redis configured (``TOKENSMITH_REDIS_URL``): the shared windows, so the limit holds across every instance
  and worker. A key with a large limit is not counted one request at a time: each process takes a batch of
  uses from the shared window (a hundredth of the limit, at most ``MAX_BATCH``, granted atomically by one
  Redis script) and spends it locally, so a busy key costs one Redis round trip per batch instead of one
  per request. The limit still holds (a batch is taken only from what the window has left); near the end
  of a window up to one batch per process may sit unspent, so a key can see its 429 that much early.
  Limits under ``2 * BATCH_DIVISOR`` per minute are counted exactly.
* Otherwise (the embedded default): the core's in-memory windows, called synchronously (no coroutine per
  exchange at thousands per second). With ``--workers N`` each worker counts on its own; configure Redis
  for an exact limit across workers and instances.

If Redis fails, keys are counted per process until it is back (availability over exactness; logged by
the core).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

MAX_KEYS = 200_000
BATCH_DIVISOR = 100
MAX_BATCH = 1000


class Batch:
    """Uses taken from the shared window and not spent yet."""

    __slots__ = ("left", "until")

    def __init__(self, left: int, until: float) -> None:
        self.left = left
        self.until = until  # the shared window's reset (runtime clock): unspent uses lapse with it


class KeyRateLimiter:
    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime
        self._limiter = runtime.limiter
        self._shared = runtime.limiter.shared
        self._batches: dict[str, Batch] = {}

    async def hit(self, key_id: str, per_minute: int) -> int | None:
        """Count one use; None when within the limit, else the seconds until the window resets."""
        if not self._shared:
            return self._limiter.local_hit(per_minute, "apikey", key_id)
        size = min(per_minute // BATCH_DIVISOR, MAX_BATCH)
        if size < 2:
            return await self._limiter.hit(per_minute, "apikey", key_id)
        return await self._from_batch(key_id, per_minute, size)

    async def _from_batch(self, key_id: str, per_minute: int, size: int) -> int | None:
        batch = self._batches.get(key_id)
        now = self._rt.clock.now()
        if batch is not None and batch.left > 0 and now < batch.until:
            batch.left -= 1
            return None
        granted, reset = await self._limiter.take(per_minute, size, "apikey", key_id)
        if granted == 0:
            self._batches.pop(key_id, None)
            return max(1, math.ceil(reset - now))
        if len(self._batches) >= MAX_KEYS:
            self._batches.clear()
        self._batches[key_id] = Batch(granted - 1, reset)
        return None
