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
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import event, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tokensmith.clock import Clock
from tokensmith.storage.db import Database, is_outage
from tokensmith.storage.models import Revocation

log = logging.getLogger("tokensmith.revocation")
CHANNEL = "revocations"  # under the deployment's redis_namespace
OVERLAP = timedelta(seconds=10)
_PENDING = "tokensmith.revocations.pending"

ChangeListener = Callable[[str], Awaitable[None] | None]


class RevocationFeed:
    def __init__(self, db: Database, clock: Clock, *, poll_interval: float = 0.5, redis: Redis | None = None,
                 namespace: str = "tokensmith") -> None:
        self._channel = f"{namespace}:{CHANNEL}"
        self._db = db
        self._clock = clock
        self._poll_interval = poll_interval
        self._redis = redis
        self.jtis: dict[str, float] = {}  # jti -> expiry (s); dropped after expiry
        self.sids: set[str] = set()
        self.kids: set[str] = set()  # revoked signing keys: checked even before the key ring is reloaded
        self.not_before_ms: dict[tuple[str, str], int] = {}  # (kind, id) -> ms
        self._seen: dict[int, datetime] = {}
        self._since: datetime | None = None
        self._listeners: list[ChangeListener] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._publishing: set[asyncio.Task[None]] = set()
        self.last_poll_ok: float | None = None

    # ---- queries on the hot path (pure memory) ----
    def is_jti_revoked(self, jti: str | None) -> bool:
        return jti is not None and jti in self.jtis

    def is_sid_revoked(self, sid: str | None) -> bool:
        return sid is not None and sid in self.sids

    def is_kid_revoked(self, kid: str | None) -> bool:
        return kid is not None and kid in self.kids

    def issued_before_cutoff(self, kind: str, ident: str | None, issued_ms: int | None) -> bool:
        """True when a token of ``kind``/``ident`` issued at ``issued_ms`` has been cut off."""
        if ident is None:
            return False
        cutoff = self.not_before_ms.get((kind, ident))
        if cutoff is None:
            return False
        return issued_ms is None or issued_ms < cutoff

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
        if kind == "jti":
            self.jtis[value] = expires_at or float("inf")
        elif kind == "sid":
            self.sids.add(value)
        elif kind == "kid":
            self.kids.add(value)
        elif kind in ("client", "user", "apikey", "tenant"):
            if not_before_ms is not None:
                current = self.not_before_ms.get((kind, value), 0)
                self.not_before_ms[(kind, value)] = max(current, not_before_ms)
        elif kind == "changed":
            for listener in self._listeners:
                result = listener(value)
                if result is not None:
                    await result

    # ---- reading the feed ----
    async def load(self) -> None:
        """Initial load: every entry still relevant."""
        now = datetime.fromtimestamp(self._clock.now(), UTC)
        async with self._db.session() as session:
            rows = (await session.execute(
                select(Revocation).where(
                    Revocation.kind != "changed",
                    or_(Revocation.expires_at.is_(None), Revocation.expires_at > now),
                )
            )).scalars().all()
        for row in rows:
            await self._apply(row.kind, row.value, row.not_before_ms,
                              row.expires_at.timestamp() if row.expires_at else None)
        self._since = now - OVERLAP
        self.last_poll_ok = self._clock.now()

    async def poll(self) -> int:
        """Read rows created since the last poll (minus the overlap); returns how many were new."""
        now = datetime.fromtimestamp(self._clock.now(), UTC)
        since = self._since or (now - OVERLAP)
        async with self._db.session() as session:
            rows = (await session.execute(
                select(Revocation).where(Revocation.created_at >= since).order_by(Revocation.id)
            )).scalars().all()
        new = 0
        for row in rows:
            if row.id in self._seen:
                continue
            self._seen[row.id] = row.created_at
            new += 1
            await self._apply(row.kind, row.value, row.not_before_ms,
                              row.expires_at.timestamp() if row.expires_at else None)
        self._since = now - OVERLAP
        cutoff = now - OVERLAP * 2
        self._seen = {k: v for k, v in self._seen.items() if v >= cutoff}
        now_s = self._clock.now()
        if len(self.jtis) > 1000:
            self.jtis = {k: v for k, v in self.jtis.items() if v > now_s}
        self.last_poll_ok = now_s
        return new

    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._poll_loop(), name="revocation-poll"))
        if self._redis is not None:
            self._tasks.append(asyncio.create_task(self._subscribe_loop(self._redis), name="revocation-subscribe"))

    async def stop(self) -> None:
        if self._publishing:
            await asyncio.wait(list(self._publishing), timeout=2)
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

    async def _subscribe_loop(self, redis: Redis) -> None:
        while True:
            pubsub = redis.pubsub()
            try:
                await pubsub.subscribe(self._channel)
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    kind, value, not_before_ms, expires_at = json.loads(message["data"])
                    await self._apply(kind, value, not_before_ms, expires_at)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("revocation subscription lost: %s", type(exc).__name__)
            finally:  # its connection is the subscriber's own: give it back, also when stopped
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py: PubSub.aclose lacks annotations
            await asyncio.sleep(1)
