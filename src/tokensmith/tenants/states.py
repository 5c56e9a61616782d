"""Which tenants are disabled, in each process's memory.

Every credential check asks :meth:`TenantStates.is_disabled` (API keys, OAuth clients, sign-in, refresh,
user tokens, token verification): one set lookup, no database query. The set is loaded with the key ring
and the revocation view at start-up (the runtime is not ready before), and reloaded whenever the revocation
feed carries ``changed tenant:<id>`` — Redis at once, the database poll within ``revocation_poll_interval``
— so a disable reaches every instance within a second. A reload that fails (database outage) is retried
until it succeeds; meanwhile the tokens of a tenant disabled in between are already dead by the ``tenant``
cut-off the disable wrote to the same feed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from sqlalchemy import select

from tokensmith.storage.models import Tenant

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

log = logging.getLogger("tokensmith.tenants")

#: The slug of the platform's own tenant (created by ``init``): its ``Tenant.*`` holders run the platform.
PLATFORM_TENANT = "default"
CHANGE_PREFIX = "tenant:"
RETRY_DELAY = 0.5


class TenantStates:
    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime
        self._disabled: frozenset[str] = frozenset()
        self.platform_id: str | None = None
        self.loaded = False
        self._lock = asyncio.Lock()
        self._reload: asyncio.Task[None] | None = None
        self._again = False
        runtime.on_change(self._on_change)

    def is_disabled(self, tenant_id: object) -> bool:
        return isinstance(tenant_id, str) and tenant_id in self._disabled

    async def load(self) -> None:
        """Read every tenant's state (one small query: only disabled tenants and the platform's own)."""
        async with self._lock:  # in order: a later load always lands last
            async with self._rt.db.session() as session:
                rows = (await session.execute(
                    select(Tenant.id, Tenant.slug, Tenant.disabled_at).where(
                        (Tenant.disabled_at.is_not(None)) | (Tenant.slug == PLATFORM_TENANT)))).all()
            self._disabled = frozenset(r.id for r in rows if r.disabled_at is not None)
            self.platform_id = next((r.id for r in rows if r.slug == PLATFORM_TENANT), None)
            self.loaded = True

    def _on_change(self, what: str) -> None:
        # Not awaited by the feed: the change may still be inside the writer's open transaction here.
        if not what.startswith(CHANGE_PREFIX):
            return
        if self._reload is not None and not self._reload.done():
            self._again = True
            return
        self._reload = asyncio.get_running_loop().create_task(self._reload_until_done(), name="tenant-states")

    async def _reload_until_done(self) -> None:
        while True:
            self._again = False
            try:
                await self.load()
            except Exception as exc:
                log.warning("tenant states could not be reloaded (retrying): %s", type(exc).__name__)
                await asyncio.sleep(RETRY_DELAY)
                continue
            if not self._again:
                return

    async def stop(self) -> None:
        if self._reload is not None:
            self._reload.cancel()
            try:
                await self._reload
            except (asyncio.CancelledError, Exception):  # noqa: S110 - shutting down
                pass
            self._reload = None
