"""Per-key rate limits: requests per minute, fixed windows.

* Redis configured (``TOKENSMITH_REDIS_URL``): the shared ``limits`` storage of the runtime
  (:mod:`tokensmith.ratelimit`), so the limit holds across every instance and worker.
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
from typing import Any

from tokensmith.apikeys.throttle import OncePer

log = logging.getLogger("tokensmith.apikeys")
WINDOW = 60.0
MAX_KEYS = 200_000


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


class KeyRateLimiter:
    def __init__(self, runtime: Any) -> None:
        self._rt = runtime
        self._shared = runtime.redis is not None and runtime.settings.redis_url is not None
        self._local = LocalWindows()
        self._warning = OncePer(30.0)

    async def hit(self, key_id: str, per_minute: int) -> int | None:
        """Count one use; None when within the limit, else the seconds until the window resets."""
        if not self._shared:
            return self._local.hit(key_id, per_minute)
        try:
            return await self._rt.limiter.hit(per_minute, "apikey", key_id)  # type: ignore[no-any-return]
        except Exception as exc:
            if self._warning.allow("hit"):
                log.warning("shared rate limiter unavailable (%s); counting per process", type(exc).__name__)
            return self._local.hit(key_id, per_minute)
