"""The composition root: every long-lived component of a process (database, keys, caches, API keys, the
session exchange, sign-in throttling, audit writer, revocation feed, rate limiter, batchers, Redis) is
built here from settings, typed, and started and stopped here — the same way for ``serve``, the CLI and
the tests. Nothing is created at import time or on first use; feature code receives the component (or a
narrow protocol of it) instead of reaching into a registry."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from tokensmith.apikeys.verifier import ApiKeys
from tokensmith.audit import AuditLog
from tokensmith.audit.retention import AuditSchedule
from tokensmith.audit.spool import AuditSpool
from tokensmith.authorization import build_authorization_server
from tokensmith.clients import ClientDirectory
from tokensmith.clock import Clock, SystemClock
from tokensmith.config import Settings
from tokensmith.crypto import MasterKeys
from tokensmith.exchange.service import SessionExchange
from tokensmith.exchange.users import ExchangeUsers
from tokensmith.jose.keyring import KeyRing
from tokensmith.observability.metrics import Metrics
from tokensmith.people.refresh import RefreshBatcher, refresh_batcher
from tokensmith.people.throttle import LoginThrottle
from tokensmith.people.user_tokens import UserTokenBatcher, user_token_batcher
from tokensmith.ratelimit import RateLimiter
from tokensmith.revocation import RevocationFeed
from tokensmith.smart.assertion_jtis import AssertionJtis
from tokensmith.smart.jwks import JwksFetcher
from tokensmith.storage.db import Database, is_outage
from tokensmith.storage.flusher import PeriodicFlusher
from tokensmith.tasks import cancel_and_wait
from tokensmith.tenants import TenantStates
from tokensmith.tokens import TokenIssuer, TokenVerifier, default_token_formats

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("tokensmith.runtime")

ChangeListener = Callable[[str], Awaitable[None] | None]


class Runtime:
    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.db = Database(settings)
        self.master = MasterKeys(settings.resolved_master_key())
        self.redis: Redis | None = None
        if settings.redis_url:
            from redis.asyncio import from_url  # imported only where Redis is configured

            self.redis = from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
        self.keyring = KeyRing()
        self.metrics = Metrics()
        self._change_listeners: list[ChangeListener] = []
        spool_dir = settings.audit_spool_path()
        self.audit = AuditLog(self.db, self.master.audit_key, self.clock,
                              flush_interval=settings.audit_flush_interval, batch_size=settings.audit_batch_size,
                              spool=AuditSpool(spool_dir) if spool_dir is not None else None,
                              stall_after=settings.writer_stall_after, metrics=self.metrics)
        #: every background writer of this process (``/readyz`` and the stall gauge look at them)
        self.writers: list[PeriodicFlusher] = [self.audit]
        self.audit_schedule = AuditSchedule(self)
        self.revocations = RevocationFeed(self.db, self.clock, poll_interval=settings.revocation_poll_interval,
                                          redis=self.redis, namespace=settings.redis_namespace)
        self.revocations.on_change(self._on_change)
        self.limiter = RateLimiter(self.clock, self.redis, settings.redis_namespace)
        self.clients = ClientDirectory(self)
        self.token_formats = default_token_formats(self)  # one registry: issuing and verifying
        self.issuer = TokenIssuer(self, self.token_formats)
        self.verifier = TokenVerifier(self, self.token_formats)
        self.tenants = TenantStates(self)
        # feature components (each registers its cache invalidation with on_change)
        self.apikeys = ApiKeys(self)
        self.exchange_users = ExchangeUsers(self)
        self.exchange = SessionExchange(self, self.apikeys, self.exchange_users)
        self.login_throttle = LoginThrottle(self)
        self.refresh_batcher: RefreshBatcher = refresh_batcher(self)
        self.user_token_batcher: UserTokenBatcher = user_token_batcher(self)
        # private_key_jwt (tokensmith.smart): clients' JWK Sets by URL, and assertion jtis used once anywhere
        self.client_jwks = JwksFetcher(
            self.clock, timeout=settings.client_jwks_fetch_timeout, max_bytes=settings.client_jwks_max_bytes,
            cache_ttl=settings.client_jwks_cache_ttl, refresh_interval=settings.client_jwks_refresh_interval,
            development=settings.is_development, stale_ttl=settings.client_jwks_stale_ttl,
            allow_internal=settings.is_development or settings.client_jwks_allow_internal)
        self.assertion_jtis = AssertionJtis(self.db, self.clock, redis=self.redis, namespace=settings.redis_namespace)
        # the protocol core, over the components above (HTTP endpoints and the guard dispatch to it)
        self.authorization = build_authorization_server(self)
        self.started = False
        self._revocations_loaded = False
        self._recovery: asyncio.Task[None] | None = None

    def add_writer(self, writer: PeriodicFlusher) -> None:
        """Register a background writer; it is judged on this runtime's clock and stall bound."""
        writer.init_health(self.clock, self.settings.writer_stall_after, self.metrics)
        self.writers.append(writer)

    def stalled_writers(self) -> list[str]:
        """Names of the writers stalled right now (the gauge is refreshed on the way)."""
        return [w.flusher_name for w in self.writers if w.health.report()]

    def on_change(self, listener: ChangeListener) -> None:
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
        from tokensmith.signing_keys.lifecycle import load_keyring

        self.keyring = await load_keyring(self)

    async def start(self, *, background: bool = True, flushers: bool | None = None) -> None:
        """Load keys and the revocation view; start the background tasks: with ``background`` the
        long-running ones (revocation feed, rate-limit announcements, audit schedule, start-up recovery),
        with ``flushers`` (default: as ``background``) the write-behind flushers (audit, API keys'
        ``lastUsedAt``, users seen by the exchange). The CLI runs flushers without the rest; tests that
        drive a writer's rounds themselves run neither. :meth:`stop` drains the flushers in every case.
        Tolerates a database that is down at start: the service then answers 503 until it is back
        (``/readyz`` says why), and a background task finishes loading as soon as the database answers."""
        try:
            await self.ensure_loaded()
        except Exception as exc:
            if not is_outage(exc):
                raise
            log.error("database unreachable at start-up; will keep retrying")
            if background:
                self._recovery = asyncio.create_task(self._recover(), name="start-up-recovery")
        if background:
            self.audit.replay_spool()  # a serving process takes over what a crashed one left
        if background if flushers is None else flushers:
            self.audit.start()
            self.apikeys.start()
            self.exchange.start()
        if background:
            await self.db.start_checkpoints()
            self.audit_schedule.start()
            self.revocations.start()
            self.limiter.start()
            await self._preload_exchange_users()
        self.started = True

    async def _preload_exchange_users(self) -> None:
        try:
            await self.exchange_users.ensure_loaded()
        except Exception as exc:  # loaded before the first exchange instead (503 until then)
            if not is_outage(exc):
                raise
            log.warning("blocked exchange users not loaded at start: %s", type(exc).__name__)

    @property
    def revocations_loaded(self) -> bool:
        return self._revocations_loaded

    @property
    def loaded(self) -> bool:
        """Ready to serve: a signing key and the full revocation view are in memory."""
        return self.keyring.active is not None and self._revocations_loaded and self.tenants.loaded

    async def ensure_loaded(self) -> None:
        """Load what a start-up outage prevented: the key ring, the full revocation view (the feed's
        regular polling only looks back a few seconds, so it cannot stand in for the full load) and which
        tenants are disabled."""
        if self.keyring.active is None:
            await self.reload_keys()
        if not self._revocations_loaded:
            await self.revocations.load()
            self._revocations_loaded = True
        if not self.tenants.loaded:
            await self.tenants.load()

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
        """Stop every task and write what the flushers still hold: the feature flushers first, the audit
        log last (stopping the others may still record events)."""
        await cancel_and_wait(self._recovery)
        self._recovery = None
        await self.exchange.stop()
        await self.apikeys.stop()
        await self.limiter.stop()
        await self.revocations.stop()
        await self.audit_schedule.stop()
        await self.tenants.stop()
        await self.audit.stop()
        if self.redis is not None:
            await self.redis.aclose()
        await self.db.dispose()
        self.started = False
