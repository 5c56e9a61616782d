"""The per-process runtime: every long-lived object (database, keys, caches, audit writer, revocation
feed, rate limiter, Redis) built from settings once, started and stopped together. Nothing is created
at import time; the app factory, the CLI and the tests each build their own."""

from __future__ import annotations

import logging
from typing import Any

from tokensmith.audit import AuditLog
from tokensmith.clock import Clock, SystemClock
from tokensmith.config import Settings
from tokensmith.crypto import MasterKeys
from tokensmith.jose.keyring import KeyRing
from tokensmith.observability.metrics import Metrics
from tokensmith.ratelimit import RateLimiter
from tokensmith.revocation import RevocationFeed
from tokensmith.services.clients import ClientDirectory
from tokensmith.storage.db import Database, is_outage
from tokensmith.tokens import TokenIssuer, TokenVerifier

log = logging.getLogger("tokensmith.runtime")


class Runtime:
    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.db = Database(settings)
        self.master = MasterKeys(settings.resolved_master_key())
        self.redis: Any = None
        if settings.redis_url:
            import redis.asyncio as aioredis

            self.redis = aioredis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
        self.keyring = KeyRing()
        self.metrics = Metrics()
        self.audit = AuditLog(self.db, self.master.audit_key, self.clock,
                              flush_interval=settings.audit_flush_interval, batch_size=settings.audit_batch_size)
        self.revocations = RevocationFeed(self.db, self.clock, poll_interval=settings.revocation_poll_interval,
                                          redis=self.redis)
        self.revocations.on_change(self._on_change)
        self.limiter = RateLimiter(settings.redis_url)
        self.clients = ClientDirectory(self)
        self.issuer = TokenIssuer(self)
        self.verifier = TokenVerifier(self)
        self.extensions: dict[str, Any] = {}
        self._change_listeners: list[Any] = []
        self.started = False

    def on_change(self, listener: Any) -> None:
        """Register ``listener(what: str)`` for ``changed`` feed entries (cache invalidation)."""
        self._change_listeners.append(listener)

    async def _on_change(self, what: str) -> None:
        kind, _, ident = what.partition(":")
        if kind == "client":
            self.clients.invalidate(ident or None)
        elif kind == "keys":
            try:
                await self.reload_keys()
            except Exception as exc:
                log.warning("key ring reload failed: %s", type(exc).__name__)
        for listener in self._change_listeners:
            result = listener(what)
            if result is not None:
                await result

    async def reload_keys(self) -> None:
        from tokensmith.services.signing_keys import load_keyring

        self.keyring = await load_keyring(self)

    async def start(self, *, background: bool = True) -> None:
        """Load keys and the revocation view; start the background tasks. Tolerates a database that is
        down at start: the service then answers 503 until it is back (``/readyz`` says why)."""
        try:
            await self.reload_keys()
            await self.revocations.load()
        except Exception as exc:
            if not is_outage(exc):
                raise
            log.error("database unreachable at start-up; will keep retrying")
        if background:
            self.audit.start()
            self.revocations.start()
        self.started = True

    async def ensure_loaded(self) -> None:
        """Called when the database comes back after a start-up outage."""
        if self.keyring.active is None:
            await self.reload_keys()
        if self.revocations.last_poll_ok is None:
            await self.revocations.load()

    async def stop(self) -> None:
        await self.revocations.stop()
        await self.audit.stop()
        if self.redis is not None:
            await self.redis.aclose()
        await self.db.dispose()
        self.started = False
