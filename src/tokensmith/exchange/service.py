"""The session token exchange (spec A): a backend that holds an API key obtains a short-lived signed token
for one of its users. Shared by ``POST /api/v1/token/`` and the RFC 8693 grant on ``/oauth/token``.

The token is an RFC 9068 JWT (header ``typ: at+jwt``) with standard claims where they exist and
documented ones for the rest (docs/session-token-exchange.md):

``iss sub aud exp iat jti sid client_id tenant`` + ``given_name family_name email`` (OpenID Connect
Core §5.1) + ``organisation healthcare_provider_identification_number healthcare_provider_type
api_key_id`` (+ ``scope`` when the RFC 8693 request asked for scopes).

Nothing is written to the database per exchange: ``sid`` is a fresh UUID (one exchange is one session,
revocable through the revocation feed like any other ``sid``; no session row is stored), the user is
recorded in a batch (:mod:`tokensmith.exchange.users`), the audit event is queued, ``lastUsedAt`` is
batched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tokensmith.apikeys.records import ApiKeyRecord
from tokensmith.apikeys.throttle import OncePer
from tokensmith.apikeys.verifier import ApiKeys
from tokensmith.errors import MessageError
from tokensmith.exchange.request import SessionTokenRequest
from tokensmith.exchange.users import ExchangeUsers
from tokensmith.ids import new_id
from tokensmith.permissions import without_management
from tokensmith.tokens.formats import IssuedToken

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

INVALID_USER = "Invalid user_id provided"


class UserNotAllowed(MessageError):
    """403 ``{"error": "Invalid user_id provided"}``: the user is blocked in the key's tenant, or the key
    is restricted to other organisations (the reason goes to the log and the audit only)."""

    status = 403
    code = "invalid_user"

    def __init__(self, reason: str) -> None:
        super().__init__(INVALID_USER, debug=reason)
        self.reason = reason


class SessionExchange:
    def __init__(self, runtime: Runtime, keys: ApiKeys, users: ExchangeUsers) -> None:
        self._rt = runtime
        self.keys = keys
        self.users = users
        self.trusted_proxies = bool(runtime.settings.trusted_proxies)
        self._audit_refused = OncePer(10.0)

    def refused(self, key: ApiKeyRecord | None, reason: str, *, user_id: str | None = None,
                ip: str | None = None, request_id: str | None = None, via: str = "api") -> None:
        """Audit a refused exchange (at most once per key, user and reason every 10 s)."""
        if key is None or not self._audit_refused.allow((key.id, user_id, reason)):
            return
        self._rt.audit.record("exchange.refused", tenant_id=key.tenant_id, actor=f"apikey:{key.id}",
                              subject=user_id, ip=ip, request_id=request_id, reason=reason, via=via)

    async def issue(self, key: ApiKeyRecord, user: SessionTokenRequest, *, scopes: Sequence[str] = (),
                    ip: str | None = None, request_id: str | None = None, via: str = "api") -> IssuedToken:
        """Issue the session token for ``user``; :class:`UserNotAllowed` when the user context is refused.
        Management permissions in ``scopes`` are left out whatever the key holds: the token goes to a
        browser (the RFC 8693 caller filters first, so its response names the scopes granted)."""
        if not key.allows_organisation(user.organisation):
            self.refused(key, "organisation not allowed for this key", user_id=user.user_id, ip=ip,
                         request_id=request_id, via=via)
            raise UserNotAllowed("organisation not allowed for this key")
        await self.users.ensure_loaded()
        if self.users.is_blocked(key.tenant_id, user.user_id):
            self.refused(key, "user blocked", user_id=user.user_id, ip=ip, request_id=request_id, via=via)
            raise UserNotAllowed("user blocked")
        rt = self._rt
        now = rt.clock.now()
        ttl = key.token_ttl
        if key.expires_at is not None:  # never outlive the key that vouched for the user
            ttl = max(1, min(ttl, int(key.expires_at - now)))
        claims: dict[str, Any] = {
            "given_name": user.first_name,
            "family_name": user.last_name,
            "organisation": user.organisation,
            "api_key_id": key.id,
        }
        if user.email is not None:
            claims["email"] = user.email
        if user.healthcare_provider_identification_number is not None:
            claims["healthcare_provider_identification_number"] = user.healthcare_provider_identification_number
        if user.healthcare_provider_type is not None:
            claims["healthcare_provider_type"] = user.healthcare_provider_type
        sid = new_id()
        token = await rt.issuer.issue(
            fmt="jwt", subject=user.user_id, client_id=key.client_id, tenant_id=key.tenant_id,
            scopes=without_management(list(scopes)), ttl=ttl, audience=rt.settings.exchange_audience,
            session_id=sid, extra=claims,
        )
        self.users.seen(key.tenant_id, user, now)
        rt.audit.record("exchange.issued", tenant_id=key.tenant_id, actor=f"apikey:{key.id}", subject=user.user_id,
                        ip=ip, request_id=request_id, jti=token.jti, sid=sid, exp=int(token.expires_at), via=via)
        rt.metrics.child(rt.metrics.tokens_issued, "session_exchange", key.client_id).inc()
        return token

    def start(self) -> None:
        self.users.start()  # the API keys' own flusher is started by the runtime

    async def stop(self) -> None:
        await self.users.stop()
