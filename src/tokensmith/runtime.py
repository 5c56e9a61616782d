"""The per-process runtime: every long-lived object (database, keys, caches, audit writer, revocation
feed, rate limiter, Redis) built from settings once, started and stopped together. Nothing is created
at import time; the app factory, the CLI and the tests each build their own."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from tokensmith.audit import AuditLog
from tokensmith.audit.retention import AuditSchedule
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
        self.audit_schedule = AuditSchedule(self)
        self.revocations = RevocationFeed(self.db, self.clock, poll_interval=settings.revocation_poll_interval,
                                          redis=self.redis, namespace=settings.redis_namespace)
        self.revocations.on_change(self._on_change)
        self.limiter = RateLimiter(settings.redis_url, self.redis, settings.redis_namespace)
        self.clients = ClientDirectory(self)
        self.issuer = TokenIssuer(self)
        self.verifier = TokenVerifier(self)
        self.extensions: dict[str, Any] = {}
        self._change_listeners: list[Any] = []
        self.started = False
        self._revocations_loaded = False
        self._recovery: asyncio.Task[None] | None = None

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
        down at start: the service then answers 503 until it is back (``/readyz`` says why), and a
        background task finishes loading as soon as the database answers again."""
        try:
            await self.ensure_loaded()
        except Exception as exc:
            if not is_outage(exc):
                raise
            log.error("database unreachable at start-up; will keep retrying")
            if background:
                self._recovery = asyncio.create_task(self._recover(), name="start-up-recovery")
        if background:
            self.audit.start()
            self.audit_schedule.start()
            self.revocations.start()
            self.limiter.start()
        self.started = True

    @property
    def revocations_loaded(self) -> bool:
        return self._revocations_loaded

    @property
    def loaded(self) -> bool:
        """Ready to serve: a signing key and the full revocation view are in memory."""
        return self.keyring.active is not None and self._revocations_loaded

    async def ensure_loaded(self) -> None:
        """Load what a start-up outage prevented: the key ring and the full revocation view (the feed's
        regular polling only looks back a few seconds, so it cannot stand in for the full load)."""
        if self.keyring.active is None:
            await self.reload_keys()
        if not self._revocations_loaded:
            await self.revocations.load()
            self._revocations_loaded = True

    async def _recover(self) -> None:
        delay = 0.5
        while not self.loaded:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
            try:
                await self.ensure_loaded()
            except Exception as exc:
                if not is_outage(exc):
                    log.warning("start-up recovery failed: %s", type(exc).__name__)
        log.info("database reachable again; keys and revocations loaded")

    async def stop(self) -> None:
        if self._recovery is not None:
            self._recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recovery
            self._recovery = None
        await self.limiter.stop()
        await self.revocations.stop()
        await self.audit_schedule.stop()
        await self.audit.stop()
        if self.redis is not None:
            await self.redis.aclose()
        await self.db.dispose()
        self.started = False
