"""The guard's copy of the revocation view, kept current by following the service: the HTTP feed
(``GET /revocations/feed``, a long poll with a cursor; :mod:`tokensmith.revocation.http_feed`) always, and
the service's Redis channel when the guard has Redis (a message arrives within milliseconds of the commit).

The entries are applied by the core's rules (:class:`tokensmith.revocation.view.RevocationView`, ids already
applied dropped by :class:`~tokensmith.revocation.view.SeenRows`). When the feed does not answer, the guard
keeps serving with what it knows; after ``staleness`` seconds without an answer it is *stale* and the guard
refuses every request until the feed answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from tokensmith.clock import Clock
from tokensmith.revocation.view import KINDS, RevocationView, SeenRows, channel_name

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from tokensmith.pubsub import Subscription

log = logging.getLogger("tokensmith.guard.feed")

#: (kind, value): called for every entry applied (the guard's caches listen)
EntryListener = Callable[[str, str], None]


class FeedError(Exception):
    pass


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class FeedFollower:
    def __init__(self, http: httpx.AsyncClient, url: str, auth: httpx.Auth, clock: Clock, *, wait: float,
                 staleness: float, on_entry: EntryListener, redis_url: str | None = None,
                 namespace: str = "tokensmith") -> None:
        self.view = RevocationView()
        self._seen = SeenRows()
        self._http = http
        self._url = url
        self._auth = auth
        self._clock = clock
        self._wait = wait
        self.staleness = staleness
        self._on_entry = on_entry
        self._redis_url = redis_url
        self._channel = channel_name(namespace)
        self.cursor: str | None = None
        self.last_ok: float | None = None
        self.failures = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._subscription: Subscription | None = None
        self._redis: Redis | None = None

    # ---- state ----
    @property
    def redis_subscribed(self) -> bool:
        return self._subscription is not None and self._subscription.subscribed

    @property
    def loaded(self) -> bool:
        return self.cursor is not None

    def age(self) -> float | None:
        return None if self.last_ok is None else max(0.0, self._clock.now() - self.last_ok)

    def stale(self) -> bool:
        """True when the guard must fail closed: never loaded, or no answer for ``staleness`` seconds."""
        last = self.last_ok
        return last is None or self._clock.now() - last > self.staleness

    # ---- applying ----
    def apply(self, kind: str, value: str, not_before_ms: int | None, expires_at: float | None) -> None:
        if kind not in KINDS:
            return
        self.view.apply_entry(kind, value, not_before_ms, expires_at)
        self._on_entry(kind, value)

    def _apply_row(self, row: Any) -> None:
        if not isinstance(row, dict):
            raise FeedError("an entry is not an object")
        row_id, kind, value, created = row.get("id"), row.get("kind"), row.get("value"), _float(row.get("created_at"))
        if not isinstance(row_id, int) or not isinstance(kind, str) or not isinstance(value, str) or created is None:
            raise FeedError("an entry lacks id, kind, value or created_at")
        if not self._seen.first_time(row_id, datetime.fromtimestamp(created, UTC)):
            return
        nbf = row.get("not_before_ms")
        self.apply(kind, value, nbf if isinstance(nbf, int) else None, _float(row.get("expires_at")))

    async def read_once(self, wait: float) -> int:
        """One request to the feed; returns how many entries it carried."""
        params: dict[str, str] = {"wait": str(wait)}
        if self.cursor is not None:
            params["after"] = self.cursor
        resp = await self._http.get(self._url, params=params, auth=self._auth, timeout=wait + 10)
        if resp.status_code != 200:
            raise FeedError(f"the feed answered {resp.status_code}")
        body = resp.json()
        entries, cursor = body.get("entries"), body.get("cursor")
        if not isinstance(entries, list) or not isinstance(cursor, str):
            raise FeedError("the feed's answer has no entries or cursor")
        for row in entries:
            self._apply_row(row)
        self.cursor = cursor
        self.last_ok = self._clock.now()
        self._seen.forget_before(datetime.fromtimestamp(self.last_ok, UTC))
        self.view.drop_expired_jtis(self.last_ok)
        self.failures = 0
        return len(entries)

    # ---- background ----
    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._follow(), name="guard-feed"))
        if self._redis_url and self._subscription is None:
            from redis.asyncio import Redis  # imported only by guards that have Redis

            from tokensmith.pubsub import Subscription

            self._redis = Redis.from_url(self._redis_url, socket_connect_timeout=2)
            self._subscription = Subscription(self._redis, self._channel, self._apply_message, name="guard-feed-redis")
            self._subscription.start()

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.stop()
            self._subscription = None
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()
            self._redis = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    async def _follow(self) -> None:
        while True:
            try:
                await self.read_once(self._wait if self.loaded else 0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the feed is down or answered nonsense: keep serving, retry
                self.failures += 1
                if self.failures in (1, 10) or self.failures % 100 == 0:
                    log.warning("revocation feed unreachable (%d in a row): %s", self.failures, type(exc).__name__)
                await asyncio.sleep(min(0.2 * self.failures, 2.0))

    def _apply_message(self, data: bytes) -> None:
        """``[kind, value, not_before_ms, expires_at]`` as the service publishes it; bad ones are ignored
        (the HTTP feed delivers the row anyway)."""
        try:
            kind, value, not_before_ms, expires_at = json.loads(data)
        except (TypeError, ValueError):
            return
        if isinstance(kind, str) and isinstance(value, str):
            self.apply(kind, value, not_before_ms if isinstance(not_before_ms, int) else None, _float(expires_at))
