"""The client lookup of the hot path: a per-process cache in front of the database."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from tokensmith.clients.records import ClientRecord, snapshot
from tokensmith.storage.cache import LoadingCache
from tokensmith.storage.models import OAuthClient, Role

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime


class ClientDirectory:
    """Client lookups for the hot path: cached per process, invalidated by the revocation feed
    (``changed client:<id>``) and by a TTL as a backstop. Unknown ids are cached briefly too, so that
    guessing client ids costs the database nothing."""

    NEGATIVE_TTL = 2.0

    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime
        self._cache: LoadingCache[str, ClientRecord | None] = LoadingCache(max_entries=50_000)

    def invalidate(self, client_id: str | None = None) -> None:
        self._cache.invalidate(client_id)

    async def get(self, client_id: str) -> ClientRecord | None:
        return await self._cache.get(client_id, lambda: self.load(client_id), self._ttl)

    def _ttl(self, record: ClientRecord | None) -> float:
        return self._rt.settings.client_cache_ttl if record is not None else self.NEGATIVE_TTL

    async def load(self, client_id: str) -> ClientRecord | None:
        async with self._rt.db.session() as session:
            row = (await session.execute(select(OAuthClient).where(OAuthClient.client_id == client_id))).scalar()
            if row is None:
                return None
            role = await session.get(Role, row.role_id) if row.role_id else None
            return snapshot(row, role)
