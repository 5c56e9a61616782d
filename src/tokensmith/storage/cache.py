"""The in-process cache in front of hot-path lookups (OAuth clients, API keys).

One load per key at a time: when an entry expires under load, every request that misses it at once
awaits the same database (or Redis) read instead of each starting its own — without that, a busy worker
sends dozens of identical queries at the end of every TTL and the requests behind them queue (a latency
spike every TTL, seen in the token benchmark).

Freshness rules the callers rely on:

* :meth:`invalidate` bumps an epoch and forgets the loads in flight: a load that started before a change
  notification is returned to the requests already waiting for it but is not cached, and a request that
  arrives after the notification starts a new load instead of joining the old one.
* The load runs as its own task, so a request that is cancelled (its client went away) does not cancel the
  load for the others.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LoadingCache(Generic[K, V]):
    def __init__(self, *, max_entries: int) -> None:
        self._entries: dict[K, tuple[V, float]] = {}
        self._inflight: dict[K, asyncio.Task[V]] = {}
        self._max_entries = max_entries
        self.epoch = 0

    def __len__(self) -> int:
        return len(self._entries)

    def invalidate(self, key: K | None = None) -> None:
        """Forget ``key`` (all keys when None) and every load in flight."""
        self.epoch += 1
        self._inflight.clear()
        if key is None:
            self._entries.clear()
        else:
            self._entries.pop(key, None)

    def invalidate_loads(self) -> None:
        """Keep the cached entries but forget the loads in flight (a change to something not cached yet)."""
        self.epoch += 1
        self._inflight.clear()

    async def get(self, key: K, load: Callable[[], Awaitable[V]], ttl: Callable[[V], float]) -> V:
        """The cached value of ``key``, or the result of ``load()`` (shared with every concurrent miss),
        cached for ``ttl(value)`` seconds."""
        hit = self._entries.get(key)
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._load(key, load, ttl, self.epoch))
            task.add_done_callback(_retrieve)
            self._inflight[key] = task
        return await asyncio.shield(task)

    async def _load(self, key: K, load: Callable[[], Awaitable[V]], ttl: Callable[[V], float], epoch: int) -> V:
        try:
            value = await load()
        finally:
            if self._inflight.get(key) is asyncio.current_task():
                del self._inflight[key]
        if epoch == self.epoch:
            if len(self._entries) >= self._max_entries:
                self._entries.clear()
            self._entries[key] = (value, time.monotonic() + ttl(value))
        return value


def _retrieve(task: asyncio.Task[object]) -> None:
    # Every waiter may have been cancelled: mark the outcome as seen so asyncio does not log it.
    if not task.cancelled():
        task.exception()
