"""Verifying an API key on every use: shape check, cached record, keyed hash compared in constant time,
state (revoked, inactive, expired), then the per-key rate limit. No bcrypt/argon2 and no database write
per request: the secret has 192 random bits, so HMAC-SHA256 under a key derived from the master key is
as strong as a slow hash would be, and ``lastUsedAt`` is written in batches.

This is the one place that decides whether a key may be used; the session exchange, the RFC 8693 grant,
introspection and the guard all call it (``rt.apikeys``, built by the runtime).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from tokensmith.apikeys.credentials import parse_api_key
from tokensmith.apikeys.directory import ApiKeyDirectory
from tokensmith.apikeys.ratelimit import KeyRateLimiter
from tokensmith.apikeys.records import ApiKeyRecord
from tokensmith.apikeys.throttle import OncePer
from tokensmith.apikeys.usage import UsageRecorder
from tokensmith.errors import MessageError, RateLimited

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

log = logging.getLogger("tokensmith.apikeys")

INVALID_API_KEY = "Invalid API key provided"
BROWSER_REFUSED = "API keys are for servers only: this request carries browser markers (Origin, Sec-Fetch-Mode)"
_NO_MATCH = "0" * 64
BROWSER_MARKERS = ("origin", "sec-fetch-mode")


class InvalidApiKey(MessageError):
    """401 ``{"error": "Invalid API key provided"}``: missing, malformed, unknown, wrong secret, revoked,
    expired or inactive — the caller is never told which (the reason goes to the log and the audit)."""

    status = 401
    code = "invalid_api_key"

    def __init__(self, reason: str) -> None:
        super().__init__(INVALID_API_KEY, debug=reason)
        self.reason = reason


class BrowserRefused(MessageError):
    status = 403
    code = "browser_refused"

    def __init__(self) -> None:
        super().__init__(BROWSER_REFUSED)


def has_browser_markers(headers: Mapping[str, str]) -> bool:
    """Browsers send ``Origin`` on cross-origin requests and every POST, and ``Sec-Fetch-Mode`` on
    everything; server-side HTTP clients send neither."""
    return any(headers.get(name) is not None for name in BROWSER_MARKERS)


class ApiKeys:
    """The per-process API key machinery (one per runtime: ``rt.apikeys``)."""

    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime
        self.directory = ApiKeyDirectory(runtime)
        self.usage = UsageRecorder(runtime)
        self.limiter = KeyRateLimiter(runtime)
        self._audit_failure = OncePer(10.0)
        self._audit_limited = OncePer(60.0)
        self._audit_browser = OncePer(10.0)

    # ---- verification ----
    async def check(self, value: str | None) -> tuple[ApiKeyRecord | None, str]:
        """``(record, "ok")`` for a usable key, else ``(None or the record, reason)``. No side effects."""
        parsed = parse_api_key(value)
        if parsed is None:
            return None, "missing" if not value else "malformed"
        client_id, secret = parsed
        record = await self.directory.get(client_id)
        digest = self._rt.master.secret_hash(secret)
        if record is None:
            hmac.compare_digest(digest, _NO_MATCH)
            return None, "unknown"
        now = self._rt.clock.now()
        ok = hmac.compare_digest(digest, record.secret_hash)
        if not ok and record.previous_secret_valid(now):
            ok = hmac.compare_digest(digest, record.previous_secret_hash or _NO_MATCH)
        if not ok:
            return record, "wrong secret"
        reason = record.unusable_reason(now)
        if reason is not None:
            return record, reason
        if self._rt.tenants.is_disabled(record.tenant_id):
            return record, "tenant disabled"
        return record, "ok"

    async def authenticate(self, value: str | None, *, ip: str | None = None,
                           request_id: str | None = None) -> ApiKeyRecord:
        """The usable key named by ``value`` (an ``X-API-Key`` value) or :class:`InvalidApiKey`."""
        record, reason = await self.check(value)
        if reason != "ok" or record is None:
            self._rt.metrics.auth_failures.labels("api_key").inc()
            self.audit_refusal(record, reason, ip, request_id)
            raise InvalidApiKey(reason)
        return record

    def audit_refusal(self, record: ApiKeyRecord | None, reason: str, ip: str | None,
                       request_id: str | None) -> None:
        # Only keys that exist are audited (a flood of garbage must not become a flood of audit rows),
        # at most once per key and reason every 10 s.
        if record is None or not self._audit_failure.allow((record.id, reason)):
            return
        self._rt.audit.record("apikey.auth_failed", tenant_id=record.tenant_id, actor=f"apikey:{record.id}",
                              subject=record.id, ip=ip, request_id=request_id, reason=reason)

    def refuse_browser(self, record: ApiKeyRecord, headers: Mapping[str, str], *, ip: str | None = None,
                       request_id: str | None = None, endpoint: str = "") -> bool:
        """True (and audited as a possible key leak) when a request with browser markers uses a key that is
        not allowed in browsers."""
        if record.allow_browser or not self._rt.settings.exchange_refuse_browser_requests:
            return False
        if not has_browser_markers(headers):
            return False
        self._rt.metrics.auth_failures.labels("api_key_browser").inc()
        if self._audit_browser.allow(record.id):
            origin = headers.get("origin")
            self._rt.audit.record("apikey.browser_use", tenant_id=record.tenant_id, actor=f"apikey:{record.id}",
                                  subject=record.id, ip=ip, request_id=request_id, endpoint=endpoint,
                                  origin=origin[:200] if origin else None,
                                  sec_fetch_mode=(headers.get("sec-fetch-mode") or "")[:40] or None,
                                  note="possible API key leak: the key was sent by a browser")
            log.warning("API key %s used from a browser (refused; possible leak)", record.id)
        return True

    # ---- use: rate limit and lastUsedAt ----
    async def consume(self, record: ApiKeyRecord, *, ip: str | None = None, request_id: str | None = None,
                      oauth: bool = False) -> None:
        """Count one use of the key; :class:`RateLimited` when its per-minute limit is spent."""
        self.usage.touch(record.id, self._rt.clock.now())
        retry = await self.over_limit(record)
        if retry is None:
            return
        self._rt.metrics.rate_limited.labels("api_key").inc()
        if self._audit_limited.allow(record.id):
            self._rt.audit.record("apikey.rate_limited", tenant_id=record.tenant_id, actor=f"apikey:{record.id}",
                                  subject=record.id, ip=ip, request_id=request_id,
                                  limit_per_minute=record.effective_rate_limit, retry_after=retry)
        raise RateLimited(retry, oauth=oauth)

    async def over_limit(self, record: ApiKeyRecord) -> int | None:
        """Count one use; None when within the limit, else the seconds until the window resets."""
        limit = record.effective_rate_limit
        if limit is None:
            return None
        return await self.limiter.hit(record.id, limit)

    def last_used(self, record: ApiKeyRecord) -> float | None:
        pending = self.usage.pending(record.id)
        return max(filter(None, (record.last_used_at, pending)), default=None)

    # ---- lifecycle ----
    def start(self) -> None:
        self.usage.start()

    async def stop(self) -> None:
        await self.usage.stop()
