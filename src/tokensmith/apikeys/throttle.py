"""Throttled audit events: a flood of refused requests must not become a flood of audit rows."""

from __future__ import annotations

import time
from collections.abc import Hashable


class OncePer:
    """``allow(key)`` is True at most once per ``interval`` seconds per key (bounded memory)."""

    def __init__(self, interval: float, max_keys: int = 50_000) -> None:
        self.interval = interval
        self._max_keys = max_keys
        self._last: dict[Hashable, float] = {}
        self.suppressed = 0

    def allow(self, key: Hashable) -> bool:
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self.suppressed += 1
            return False
        if len(self._last) >= self._max_keys:
            cutoff = now - self.interval
            self._last = {k: v for k, v in self._last.items() if v > cutoff}
            if len(self._last) >= self._max_keys:
                self._last.clear()
        self._last[key] = now
        return True
