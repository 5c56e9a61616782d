"""Single use of client-assertion ``jti`` values across every instance (RFC 7523 §3 item 7: "The
authorization server MAY ensure that JWTs are not replayed by maintaining the set of used jti values
for the length of time for which the JWT would be considered valid"; SMART Backend Services makes it a
SHALL).

With Redis configured: ``SET NX`` with the assertion's remaining lifetime (one round trip). Without Redis,
or while Redis is unreachable: an insert into ``client_assertion_jtis`` whose primary key refuses the
second use; expired rows are deleted now and then by whoever inserts. The inserts are grouped
(:class:`~tokensmith.storage.batching.Batcher`): the assertions that arrive while one batch is being
written go together in the next, as one ``INSERT … ON CONFLICT DO NOTHING RETURNING`` in one write turn,
and the rows it returns are the first uses (on SQLite, one transaction per request made every backend
service token wait for the file's write lock on its own).
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Insert, delete
from sqlalchemy.dialects import postgresql, sqlite

from tokensmith.clock import Clock
from tokensmith.storage.batching import database_batcher
from tokensmith.storage.db import Database
from tokensmith.storage.models import ClientAssertionJti

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("tokensmith.smart.jti")
_T = ClientAssertionJti.__table__
PURGE_INTERVAL = 60.0
#: (client_id, jti, expires_at) of one assertion
_Use = tuple[str, str, datetime]


def _first_uses(dialect: str) -> Insert:
    """``INSERT … ON CONFLICT DO NOTHING RETURNING client_id, jti``: the rows it returns are first uses."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(_T).on_conflict_do_nothing().returning(_T.c.client_id, _T.c.jti)


class AssertionJtis:
    def __init__(self, db: Database, clock: Clock, *, redis: Redis | None = None,
                 namespace: str = "tokensmith") -> None:
        self._db = db
        self._clock = clock
        self._redis = redis
        self._redis_errors: tuple[type[Exception], ...] = (OSError,)
        if redis is not None:
            from redis.exceptions import RedisError  # imported only where Redis is configured

            self._redis_errors = (RedisError, OSError)
        self._prefix = f"{namespace}:assertion-jti:"
        self._last_purge = 0.0
        self._uses = database_batcher(db.dialect, self._insert_batch)

    async def first_use(self, client_id: str, jti: str, expires_at: float) -> bool:
        """True the first time (``client_id``, ``jti``) is seen before ``expires_at``; False for a replay."""
        now = self._clock.now()
        if self._redis is not None:
            try:
                ttl = max(1, math.ceil(expires_at - now))
                stored = await self._redis.set(f"{self._prefix}{client_id}\x1f{jti}", b"1", nx=True, ex=ttl)
                return bool(stored)
            except self._redis_errors as exc:
                log.warning("Redis unavailable for assertion jti, using the database: %s", type(exc).__name__)
        return await self._insert(client_id, jti, expires_at, now)

    async def _insert(self, client_id: str, jti: str, expires_at: float, now: float) -> bool:
        first = await self._uses.submit((client_id, jti, datetime.fromtimestamp(expires_at, UTC)))
        if first and now - self._last_purge > PURGE_INTERVAL:
            self._last_purge = now
            await self.purge(now)
        return first

    async def _insert_batch(self, uses: list[_Use]) -> list[bool]:
        """One statement for the batch; a pair that occurs twice in it is a replay from its second use on."""
        unique = list({(client_id, jti): (client_id, jti, at) for client_id, jti, at in reversed(uses)}.values())
        rows = [{"client_id": c, "jti": j, "expires_at": at} for c, j, at in unique]
        # one cached statement ("insertmanyvalues" batches); write-only, so SQLite's own lock suffices and
        # the batch does not queue for the write turn behind the audit writer (storage/writer.py)
        async with self._db.session() as session:
            found = await session.execute(_first_uses(self._db.dialect), rows)
            stored = {(row.client_id, row.jti) for row in found}
        results = []
        for client_id, jti, _at in uses:
            results.append((client_id, jti) in stored)
            stored.discard((client_id, jti))
        return results

    async def purge(self, now: float | None = None) -> int:
        """Forget the jtis whose assertions have expired (they could not be replayed anyway)."""
        cutoff = datetime.fromtimestamp(self._clock.now() if now is None else now, UTC)
        async with self._db.write_session() as session:
            result = await session.execute(delete(ClientAssertionJti).where(ClientAssertionJti.expires_at < cutoff))
        return int(getattr(result, "rowcount", 0) or 0)
