"""Rate limits: fixed one-minute windows over the counting core (:mod:`tokensmith.ratelimit.counters`) — in
process on the embedded default, in Redis (shared by every instance) when ``TOKENSMITH_REDIS_URL`` is set.

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

import logging
import math
import time
from typing import TYPE_CHECKING

import orjson

from tokensmith.clock import Clock
from tokensmith.pubsub import Subscription
from tokensmith.ratelimit.counters import Counters

if TYPE_CHECKING:
    from redis.asyncio import Redis  # only configured deployments import redis

log = logging.getLogger("tokensmith.ratelimit")
ANNOUNCE_CHANNEL = "ratelimit-failures"  # under the deployment's redis_namespace
RECENT = 61.0  # seconds a failure keeps its identifiers "recent" (the windows are one minute)
WINDOW = 60.0


def window_key(identifiers: tuple[str, ...]) -> str:
    return "rl:" + "/".join(identifiers)


class RateLimiter:
    def __init__(self, clock: Clock, redis: Redis | None = None, namespace: str = "tokensmith") -> None:
        self._clock = clock
        self.counters = Counters(clock, redis, namespace)
        self._shared = redis is not None
        # Identifiers counted (here, or announced by another process) in the last minute. A check for
        # anything else is answered without touching the counters (the common case on hot paths).
        self._recent: dict[tuple[str, ...], float] = {}
        self._redis = redis
        self._channel = f"{namespace}:{ANNOUNCE_CHANNEL}"
        self.announcements = (Subscription(redis, self._channel, self._heard, name="rate-limit-announcements")
                              if redis is not None else None)

    @property
    def shared(self) -> bool:
        """Counted in Redis (else in this process only)."""
        return self._shared

    def start(self) -> None:
        if self.announcements is not None:
            self.announcements.start()

    async def stop(self) -> None:
        if self.announcements is not None:
            await self.announcements.stop()

    @property
    def knows_recent_failures(self) -> bool:
        """True when the local set is complete: in process, or subscribed to the announcements."""
        return self.announcements is None or self.announcements.subscribed

    def recently_failed(self, *identifiers: str) -> bool:
        last = self._recent.get(identifiers)
        return last is not None and time.monotonic() - last <= RECENT

    def _note(self, identifiers: tuple[str, ...]) -> None:
        now = time.monotonic()
        if len(self._recent) > 100_000:
            self._recent = {k: v for k, v in self._recent.items() if v > now - RECENT}
        self._recent[identifiers] = now

    def _heard(self, data: bytes) -> None:
        identifiers = orjson.loads(data)
        if isinstance(identifiers, list) and all(isinstance(i, str) for i in identifiers):
            self._note(tuple(identifiers))

    def local_hit(self, per_minute: int, *identifiers: str) -> int | None:
        """:meth:`hit` in this process's memory, synchronously: for callers that count per process (the
        embedded default's per-key API limits) on a hot path."""
        count, left = self.counters.local.incr_now(window_key(identifiers), WINDOW)
        return None if count <= per_minute else max(1, math.ceil(left))

    async def hit(self, per_minute: int, *identifiers: str, announce: bool = False) -> int | None:
        """Count one use. Returns None when allowed, else the seconds until the window resets.
        ``announce``: a failure that :meth:`exceeded` checks for — tell every process about it."""
        if not self._shared or announce:
            self._note(identifiers)
        count, left = await self.counters.incr(window_key(identifiers), WINDOW)
        if announce and self._redis is not None:
            try:
                await self._redis.publish(self._channel, orjson.dumps(identifiers))
            except Exception as exc:
                log.warning("rate-limit announcement failed: %s", type(exc).__name__)
        return None if count <= per_minute else max(1, math.ceil(left))

    async def exceeded(self, per_minute: int, *identifiers: str) -> int | None:
        """Like :meth:`hit` without counting: None when there is room left."""
        if self.knows_recent_failures and not self.recently_failed(*identifiers):
            return None
        count, left = await self.counters.get(window_key(identifiers))
        return None if count < per_minute else max(1, math.ceil(left or WINDOW))

    async def take(self, per_minute: int, wanted: int, *identifiers: str) -> tuple[int, float]:
        """Count up to ``wanted`` uses at once, atomically: (how many were granted, the window's reset time
        as a Unix time on the runtime's clock). Grants no more than the window has left, so a batch never
        eats the others' share."""
        granted, left = await self.counters.take(window_key(identifiers), WINDOW, per_minute, wanted)
        return granted, self._clock.now() + left
