"""The revocation feed.

Revoking writes a row to ``revocations`` (the durable deny list, shared by every instance) and, when
Redis is configured, publishes it for an immediate fan-out. Every process keeps the live entries in
memory and reads new rows every ``revocation_poll_interval`` seconds (with an overlap window, since
rows of concurrent transactions can become visible out of ``id`` order), so a revocation is effective
everywhere within a second even without Redis, and no request pays a database round trip for it.

Kinds: ``jti`` (one JWT), ``sid`` (a session), ``kid`` (a signing key), ``client`` / ``user`` / ``apikey``
(every token issued before ``not_before_ms``), and ``changed`` (a cache entry — ``client:<id>``,
``apikey:<id>``, ``keys`` — must be reloaded).

The Redis message for an entry written inside a caller's transaction goes out only after that
transaction commits, so an instance that reloads on the message reads the new rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tokensmith.clock import Clock
from tokensmith.pubsub import Subscription
from tokensmith.revocation.view import RevocationView, SeenRows, channel_name, window_start
from tokensmith.storage.db import Database, is_outage
from tokensmith.storage.models import Revocation

if TYPE_CHECKING:
    from redis.asyncio import Redis  # only configured deployments import redis

log = logging.getLogger("tokensmith.revocation")
_PENDING = "tokensmith.revocations.pending"

ChangeListener = Callable[[str], Awaitable[None] | None]


async def rows_since(session: AsyncSession, since: datetime) -> list[Revocation]:
    """Every feed row created at or after ``since``, in id order (the window read; see
    :mod:`tokensmith.revocation.view`)."""
    return list((await session.execute(
        select(Revocation).where(Revocation.created_at >= since).order_by(Revocation.id)
    )).scalars().all())


async def live_rows(session: AsyncSession, now: datetime) -> list[Revocation]:
    """Every entry still relevant at ``now`` (the initial load): not ``changed``, not expired."""
    return list((await session.execute(
        select(Revocation).where(
            Revocation.kind != "changed",
            or_(Revocation.expires_at.is_(None), Revocation.expires_at > now),
        ).order_by(Revocation.id)
    )).scalars().all())


class RevocationFeed(RevocationView):
    def __init__(self, db: Database, clock: Clock, *, poll_interval: float = 0.5, redis: Redis | None = None,
                 namespace: str = "tokensmith") -> None:
        super().__init__()
        self._channel = channel_name(namespace)
        self._db = db
        self._clock = clock
        self._poll_interval = poll_interval
        self._redis = redis
        self._seen = SeenRows()
        self._since: datetime | None = None
        self._listeners: list[ChangeListener] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._publishing: set[asyncio.Task[None]] = set()
        self.last_poll_ok: float | None = None
        self.applied = 0
        self._news = asyncio.Event()
        #: the Redis fan-out of other instances' entries (the poll covers whatever it misses)
        self.subscription = (Subscription(redis, self._channel, self._on_message, name="revocation-subscribe")
                             if redis is not None else None)

    def on_change(self, listener: ChangeListener) -> None:
        self._listeners.append(listener)

    # ---- writing ----
    async def revoke(self, session: AsyncSession | None, kind: str, value: str, *,
                     not_before_ms: int | None = None, expires_at: float | None = None) -> None:
        """Record a revocation (in ``session``'s transaction when given) and apply it locally at once."""
        row = Revocation(kind=kind, value=value, not_before_ms=not_before_ms,
                         expires_at=datetime.fromtimestamp(expires_at, UTC) if expires_at else None,
                         created_at=datetime.fromtimestamp(self._clock.now(), UTC))
        if session is not None:
            session.add(row)
            await session.flush()
            # Other instances must not hear of it before it is committed: one that reloads keys or a
            # client on the message would otherwise read the old row and keep it until the next change.
            self._publish_after_commit(session, (kind, value, not_before_ms, expires_at))
        else:
            async with self._db.session() as own:
                own.add(row)
                await own.flush()
        await self._apply(kind, value, not_before_ms, expires_at)
        if session is None:
            await self._publish(kind, value, not_before_ms, expires_at)

    async def changed(self, session: AsyncSession | None, what: str) -> None:
        await self.revoke(session, "changed", what)

    def _publish_after_commit(self, session: AsyncSession, entry: tuple[str, str, int | None, float | None]) -> None:
        """Queue ``entry`` for the Redis fan-out once ``session``'s transaction has committed (dropped on
        rollback: the database poll then has nothing to find either)."""
        if self._redis is None:
            return
        pending: list[tuple[str, str, int | None, float | None]] | None = session.info.get(_PENDING)
        if pending is None:
            pending = session.info[_PENDING] = []
            sync_session = session.sync_session

            def after_commit(_: Any) -> None:
                entries = session.info.pop(_PENDING, [])
                loop = asyncio.get_running_loop()
                for item in entries:
                    task = loop.create_task(self._publish(*item))
                    self._publishing.add(task)
                    task.add_done_callback(self._publishing.discard)

            def after_rollback(_: Any) -> None:
                session.info.pop(_PENDING, None)

            event.listen(sync_session, "after_commit", after_commit, once=True)
            event.listen(sync_session, "after_rollback", after_rollback, once=True)
        pending.append(entry)

    async def _publish(self, kind: str, value: str, not_before_ms: int | None, expires_at: float | None) -> None:
        if self._redis is None:
            return
        try:
            await self._redis.publish(self._channel, json.dumps([kind, value, not_before_ms, expires_at]))
        except Exception as exc:
            log.warning("revocation fan-out via Redis failed: %s", type(exc).__name__)

    async def _apply(self, kind: str, value: str, not_before_ms: int | None, expires_at: float | None) -> None:
        self.apply_entry(kind, value, not_before_ms, expires_at)
        if kind == "changed":
            for listener in self._listeners:
                result = listener(value)
                if result is not None:
                    await result
        self.applied += 1  # the HTTP feed's long polls wait on this (wait_for_news)
        self._news.set()
        self._news = asyncio.Event()

    # ---- reading the feed ----
    async def load(self) -> None:
        """Initial load: every entry still relevant."""
        now = datetime.fromtimestamp(self._clock.now(), UTC)
        async with self._db.session() as session:
            rows = await live_rows(session, now)
        for row in rows:
            await self._apply(row.kind, row.value, row.not_before_ms,
                              row.expires_at.timestamp() if row.expires_at else None)
        self._since = window_start(now)
        self.last_poll_ok = self._clock.now()

    async def poll(self) -> int:
        """Read rows created since the last poll (minus the overlap); returns how many were new."""
        now = datetime.fromtimestamp(self._clock.now(), UTC)
        since = self._since or window_start(now)
        async with self._db.session() as session:
            rows = await rows_since(session, since)
        new = 0
        for row in rows:
            if not self._seen.first_time(row.id, row.created_at):
                continue
            new += 1
            await self._apply(row.kind, row.value, row.not_before_ms,
                              row.expires_at.timestamp() if row.expires_at else None)
        self._since = window_start(now)
        self._seen.forget_before(now)
        self.drop_expired_jtis(self._clock.now())
        self.last_poll_ok = self._clock.now()
        return new

    async def wait_for_news(self, applied: int, at_most: float) -> None:
        """Return once this process has applied an entry beyond ``applied`` (a Redis message or a poll
        found one), or after ``at_most`` seconds: what the HTTP feed's long poll waits on instead of reading the
        table in a loop."""
        if self.applied != applied:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._news.wait(), at_most)

    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._poll_loop(), name="revocation-poll"))
        if self.subscription is not None:
            self.subscription.start()

    async def stop(self) -> None:
        if self._publishing:
            await asyncio.wait(list(self._publishing), timeout=2)
        if self.subscription is not None:
            await self.subscription.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: S110 - shutting down
                pass
        self._tasks.clear()

    async def _poll_loop(self) -> None:
        while True:
            await asyncio.sleep(self._poll_interval)
            try:
                await self.poll()
            except Exception as exc:
                if not is_outage(exc):
                    log.exception("revocation poll failed")

    async def _on_message(self, data: bytes) -> None:
        """``[kind, value, not_before_ms, expires_at]`` as :meth:`_publish` sends it."""
        kind, value, not_before_ms, expires_at = json.loads(data)
        await self._apply(kind, value, not_before_ms, expires_at)
