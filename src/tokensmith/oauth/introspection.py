"""RFC 7662 — Token Introspection. The caller must authenticate (§2.1); a token of another tenant is
reported inactive, as is anything unknown, expired or revoked (§2.2: ``{"active": false}`` only).

Introspectors are registered per credential kind (``token_type_hint``): access tokens (every registered
token format, :mod:`tokensmith.tokens`), refresh and user tokens, API keys. A hint only says which one to
try first (§2.1: "the server MAY ... extend its search across all of its supported token types")."""

from __future__ import annotations

from typing import Any, Protocol

from tokensmith.oauth.client_auth import Caller

INACTIVE: dict[str, Any] = {"active": False}


class Introspector(Protocol):
    #: the ``token_type_hint`` it answers (RFC 7662 §2.1, IANA "OAuth Token Type Hints")
    hint: str

    async def introspect(self, token: str, caller: Caller) -> dict[str, Any] | None:
        """The RFC 7662 response for a token of this kind, or None when the token is not of this kind."""
        ...


class IntrospectionRegistry:
    def __init__(self) -> None:
        self.by_hint: dict[str, Introspector] = {}
        self._order: list[Introspector] = []

    def register(self, introspector: Introspector) -> None:
        """Tried in registration order when no hint (or a wrong one) is given."""
        self.by_hint[introspector.hint] = introspector
        self._order.append(introspector)

    @property
    def hints(self) -> list[str]:
        return list(self.by_hint)

    async def introspect(self, token: str, hint: str | None, caller: Caller) -> dict[str, Any]:
        first = self.by_hint.get(hint) if hint else None
        if first is not None:
            body = await first.introspect(token, caller)
            if body is not None:
                return _same_tenant(body, caller.tenant_id)
        for other in self._order:
            if other is first:
                continue
            body = await other.introspect(token, caller)
            if body is not None:
                return _same_tenant(body, caller.tenant_id)
        return INACTIVE


def access_token_response(claims: dict[str, Any], token_type: str = "Bearer") -> dict[str, Any]:
    body: dict[str, Any] = {"active": True, "token_type": token_type}
    for name in ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "nbf", "jti", "sid", "tenant",
                 "username", "uid", "role", "api_key_id", "organisation", "patient", "encounter", "fhirUser"):
        if name in claims:
            body[name] = claims[name]
    return body


def _same_tenant(body: dict[str, Any], tenant: str | None) -> dict[str, Any]:
    if body.get("active") and tenant is not None and body.get("tenant") not in (None, tenant):
        return INACTIVE
    return body
