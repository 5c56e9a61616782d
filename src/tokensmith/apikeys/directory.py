"""API key lookups for the hot path: ``clientId`` → :class:`ApiKeyRecord`, without a database round trip
for a known key.

Three levels: process memory (``api_key_cache_ttl``), Redis when configured (``api_key_redis_cache_ttl``,
shared by every instance) and the database (an indexed lookup on the unique ``client_id``).

Freshness, because a revoked key must fail everywhere within a second:

* Every change to a key writes ``changed apikey:<id>`` to the revocation feed (in the transaction of the
  change). Every process receives it (Redis pub/sub at once, the feed poll within
  ``revocation_poll_interval`` after the commit) and drops its memory copy.
* A load that was in flight while a change arrived is not cached (:class:`~tokensmith.storage.cache.LoadingCache`),
  so a copy read just before a commit cannot outlive the notification that follows the commit.
* Redis copies carry the key's generation (``<redis_namespace>:apikey-gen:<clientId>``), read *before* the
  database in the same round trip as the copy; writers increment it after their commit. A copy whose
  generation is not the current one is ignored, so a slow reader can never park a stale copy in Redis.
* Unknown ``clientId`` values are cached for two seconds in memory only, so guessing costs the database
  nothing.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import orjson
from sqlalchemy import select

from tokensmith.apikeys.records import ApiKeyRecord, from_row
from tokensmith.apikeys.throttle import OncePer
from tokensmith.storage.cache import LoadingCache
from tokensmith.storage.models import ApiKey, Tenant

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

log = logging.getLogger("tokensmith.apikeys")

MAX_ENTRIES = 100_000


def _generation(value: bytes | str | None) -> str:
    """A key's generation counter as Redis returns it (bytes), as text; "0" before its first change."""
    if value is None:
        return "0"
    return value.decode() if isinstance(value, bytes) else value


class ApiKeyDirectory:
    NEGATIVE_TTL = 2.0

    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime
        namespace = runtime.settings.redis_namespace
        self._copy_prefix = f"{namespace}:apikey:"
        self._gen_prefix = f"{namespace}:apikey-gen:"
        self._cache: LoadingCache[str, ApiKeyRecord | None] = LoadingCache(max_entries=MAX_ENTRIES)
        self._client_ids: dict[str, str] = {}  # key id -> clientId, to act on "changed apikey:<id>"
        self._redis_warning = OncePer(30.0)
        self.loads = 0  # database loads, for tests and metrics
        runtime.on_change(self._on_change)

    # ---- invalidation ----
    def _on_change(self, what: str) -> None:
        kind, _, key_id = what.partition(":")
        if kind == "tenant":  # e.g. a new default rate limit: rare, so every copy goes
            self.invalidate()
            return
        if kind != "apikey":
            return
        client_id = self._client_ids.pop(key_id, None)
        if client_id is not None:
            self._cache.invalidate(client_id)
        else:
            self._cache.invalidate_loads()

    def invalidate(self, client_id: str | None = None) -> None:
        if client_id is None:
            self._client_ids.clear()
        self._cache.invalidate(client_id)

    async def bump_generation(self, client_id: str) -> None:
        """After a committed change: every Redis copy of this key becomes unusable."""
        redis = self._rt.redis
        if redis is None:
            return
        try:
            async with redis.pipeline(transaction=True) as pipe:
                pipe.incr(self._gen_prefix + client_id)
                pipe.delete(self._copy_prefix + client_id)
                await pipe.execute()
        except Exception as exc:
            # The copy then lives at most api_key_redis_cache_ttl; the feed still invalidates memory.
            log.warning("API key cache generation bump failed: %s", type(exc).__name__)

    # ---- lookup ----
    async def get(self, client_id: str) -> ApiKeyRecord | None:
        return await self._cache.get(client_id, lambda: self._load(client_id), self._remember)

    def _remember(self, record: ApiKeyRecord | None) -> float:
        """How long to cache a load (and note which key id it belongs to, for change notifications)."""
        if record is None:
            return self.NEGATIVE_TTL
        if len(self._client_ids) >= MAX_ENTRIES:
            self._client_ids.clear()
        self._client_ids[record.id] = record.client_id
        return self._rt.settings.api_key_cache_ttl

    async def _load(self, client_id: str) -> ApiKeyRecord | None:
        redis = self._rt.redis
        generation: bytes | str | None = None
        if redis is not None:
            try:
                cached, generation = await redis.mget(self._copy_prefix + client_id, self._gen_prefix + client_id)
                if cached is not None:
                    data = orjson.loads(cached)
                    if data.get("gen") == _generation(generation):
                        return ApiKeyRecord.from_cache(data["record"])
            except Exception as exc:
                redis = None
                if self._redis_warning.allow("get"):
                    log.warning("API key cache in Redis unavailable: %s", type(exc).__name__)
        record = await self.load_from_database(client_id)
        if redis is not None and record is not None:
            payload = orjson.dumps({"gen": _generation(generation), "record": record.to_cache()})
            try:
                await redis.set(self._copy_prefix + client_id, payload, ex=self._rt.settings.api_key_redis_cache_ttl)
            except Exception as exc:
                if self._redis_warning.allow("set"):
                    log.warning("API key cache in Redis unavailable: %s", type(exc).__name__)
        return record

    async def load_from_database(self, client_id: str) -> ApiKeyRecord | None:
        self.loads += 1
        async with self._rt.db.session() as session:
            row = (await session.execute(
                select(ApiKey, Tenant.default_rate_limit).join(Tenant, Tenant.id == ApiKey.tenant_id)
                .where(ApiKey.client_id == client_id)
            )).first()
        if row is None:
            return None
        return from_row(row[0], row[1], self._rt.settings.api_key_default_rate_limit)
