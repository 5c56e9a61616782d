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
from typing import Any

import httpx

from tokensmith.clock import Clock
from tokensmith.revocation.view import KINDS, RevocationView, SeenRows, channel_name

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
        self.redis_subscribed = False
        self.failures = 0
        self._tasks: list[asyncio.Task[None]] = []

    # ---- state ----
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
        if self._redis_url:
            self._tasks.append(asyncio.create_task(self._subscribe(self._redis_url), name="guard-feed-redis"))

    async def stop(self) -> None:
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

    async def _subscribe(self, url: str) -> None:
        from redis.asyncio import Redis

        redis = Redis.from_url(url, socket_connect_timeout=2)
        try:
            while True:
                pubsub = redis.pubsub()
                try:
                    await pubsub.subscribe(self._channel)
                    self.redis_subscribed = True
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._apply_message(message.get("data"))
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("revocation subscription lost: %s", type(exc).__name__)
                finally:
                    self.redis_subscribed = False
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py: no annotations
                await asyncio.sleep(1)
        finally:
            with contextlib.suppress(Exception):
                await redis.aclose()

    def _apply_message(self, data: object) -> None:
        """``[kind, value, not_before_ms, expires_at]`` as the service publishes it; bad ones are ignored
        (the HTTP feed delivers the row anyway)."""
        try:
            kind, value, not_before_ms, expires_at = json.loads(data)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return
        if isinstance(kind, str) and isinstance(value, str):
            self.apply(kind, value, not_before_ms if isinstance(not_before_ms, int) else None, _float(expires_at))
