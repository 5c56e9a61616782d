"""Single use of client-assertion ``jti`` values across every instance (RFC 7523 §3 item 7: "The
authorization server MAY ensure that JWTs are not replayed by maintaining the set of used jti values
for the length of time for which the JWT would be considered valid"; SMART Backend Services makes it a
SHALL).

With Redis configured: ``SET NX`` with the assertion's remaining lifetime (one round trip). Without Redis,
or while Redis is unreachable: an insert into ``client_assertion_jtis`` whose primary key refuses the
second use; expired rows are deleted now and then by whoever inserts.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from tokensmith.clock import Clock
from tokensmith.storage.db import Database
from tokensmith.storage.models import ClientAssertionJti

log = logging.getLogger("tokensmith.smart.jti")
_T = ClientAssertionJti.__table__
PURGE_INTERVAL = 60.0


class AssertionJtis:
    def __init__(self, db: Database, clock: Clock, *, redis: aioredis.Redis | None = None,
                 namespace: str = "tokensmith") -> None:
        self._db = db
        self._clock = clock
        self._redis = redis
        self._prefix = f"{namespace}:assertion-jti:"
        self._last_purge = 0.0

    async def first_use(self, client_id: str, jti: str, expires_at: float) -> bool:
        """True the first time (``client_id``, ``jti``) is seen before ``expires_at``; False for a replay."""
        now = self._clock.now()
        if self._redis is not None:
            try:
                ttl = max(1, math.ceil(expires_at - now))
                stored = await self._redis.set(f"{self._prefix}{client_id}\x1f{jti}", b"1", nx=True, ex=ttl)
                return bool(stored)
            except (RedisError, OSError) as exc:
                log.warning("Redis unavailable for assertion jti, using the database: %s", type(exc).__name__)
        return await self._insert(client_id, jti, expires_at, now)

    async def _insert(self, client_id: str, jti: str, expires_at: float, now: float) -> bool:
        expiry = datetime.fromtimestamp(expires_at, UTC)
        try:
            async with self._db.autocommit_engine.connect() as conn:
                await conn.execute(_T.insert().values(client_id=client_id, jti=jti, expires_at=expiry))
        except IntegrityError:
            return False
        if now - self._last_purge > PURGE_INTERVAL:
            self._last_purge = now
            await self.purge(now)
        return True

    async def purge(self, now: float | None = None) -> int:
        """Forget the jtis whose assertions have expired (they could not be replayed anyway)."""
        cutoff = datetime.fromtimestamp(self._clock.now() if now is None else now, UTC)
        async with self._db.write_session() as session:
            result = await session.execute(delete(ClientAssertionJti).where(ClientAssertionJti.expires_at < cutoff))
        return int(getattr(result, "rowcount", 0) or 0)
