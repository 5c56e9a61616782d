"""Per-key rate limits: requests per minute, fixed windows.

* Redis configured (``TOKENSMITH_REDIS_URL``): the shared ``limits`` storage of the runtime
  (:mod:`tokensmith.ratelimit`), so the limit holds across every instance and worker. A key with a large
  limit is not counted one request at a time: each process takes a batch of uses from the shared window
  (a hundredth of the limit, at most ``MAX_BATCH``) and spends it locally, so a busy key costs one Redis
  round trip per batch instead of one per request. The limit still holds (a batch is taken only from what
  the window has left); near the end of a window up to one batch per process may sit unspent, so a key can
  see its 429 that much early. Limits under ``2 * BATCH_DIVISOR`` per minute are counted exactly.
* Otherwise (the embedded default): a counter in process memory — the same fixed-window semantics as
  ``limits``' ``FixedWindowRateLimiter`` (a window starts with its first hit and lasts 60 s) at a tenth
  of the cost, which matters at thousands of exchanges per second. With ``--workers N`` each worker
  counts on its own; configure Redis for an exact limit across workers and instances.

If Redis fails, keys are counted per process until it is back (availability over exactness; logged).
"""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING

from tokensmith.apikeys.throttle import OncePer

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

log = logging.getLogger("tokensmith.apikeys")
WINDOW = 60.0
MAX_KEYS = 200_000
BATCH_DIVISOR = 100
MAX_BATCH = 1000


class LocalWindows:
    """Fixed one-minute windows in memory."""

    def __init__(self) -> None:
        self._windows: dict[str, tuple[float, int]] = {}

    def hit(self, ident: str, per_minute: int) -> int | None:
        now = time.monotonic()
        window = self._windows.get(ident)
        if window is None or now - window[0] >= WINDOW:
            if len(self._windows) >= MAX_KEYS:
                self._windows = {k: w for k, w in self._windows.items() if now - w[0] < WINDOW}
            start, count = now, 1
        else:
            start, count = window[0], window[1] + 1
        self._windows[ident] = (start, count)
        if count <= per_minute:
            return None
        return max(1, math.ceil(start + WINDOW - now))


class Batch:
    """Uses taken from the shared window and not spent yet."""

    __slots__ = ("left", "until")

    def __init__(self, left: int, until: float) -> None:
        self.left = left
        self.until = until  # the shared window's reset (Unix time): unspent uses lapse with it


class KeyRateLimiter:
    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime
        self._shared = runtime.redis is not None and runtime.settings.redis_url is not None
        self._local = LocalWindows()
        self._batches: dict[str, Batch] = {}
        self._warning = OncePer(30.0)

    async def hit(self, key_id: str, per_minute: int) -> int | None:
        """Count one use; None when within the limit, else the seconds until the window resets."""
        if not self._shared:
            return self._local.hit(key_id, per_minute)
        try:
            size = min(per_minute // BATCH_DIVISOR, MAX_BATCH)
            if size < 2:
                return await self._rt.limiter.hit(per_minute, "apikey", key_id)
            return await self._from_batch(key_id, per_minute, size)
        except Exception as exc:
            if self._warning.allow("hit"):
                log.warning("shared rate limiter unavailable (%s); counting per process", type(exc).__name__)
            return self._local.hit(key_id, per_minute)

    async def _from_batch(self, key_id: str, per_minute: int, size: int) -> int | None:
        batch = self._batches.get(key_id)
        now = time.time()
        if batch is not None and batch.left > 0 and now < batch.until:
            batch.left -= 1
            return None
        granted, reset = await self._rt.limiter.take(per_minute, size, "apikey", key_id)
        if granted == 0:
            self._batches.pop(key_id, None)
            return max(1, math.ceil(reset - time.time()))
        if len(self._batches) >= MAX_KEYS:
            self._batches.clear()
        self._batches[key_id] = Batch(granted - 1, reset)
        return None
