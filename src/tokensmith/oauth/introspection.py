"""RFC 7662 — Token Introspection. The caller must authenticate (§2.1); a token of another tenant is
reported inactive, as is anything unknown, expired or revoked (§2.2: ``{"active": false}`` only)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from tokensmith.errors import InvalidRequest
from tokensmith.oauth.client_auth import authenticate_client
from tokensmith.oauth.request import OAuthRequest

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

INACTIVE: dict[str, Any] = {"active": False}

# token_type_hint -> extra introspectors (API keys, refresh tokens, …) registered by other features.
Introspector = Callable[[Any, str, Any], Awaitable[dict[str, Any] | None]]


class IntrospectionRegistry:
    def __init__(self) -> None:
        self.by_hint: dict[str, Introspector] = {}
        self.fallbacks: list[Introspector] = []

    def register(self, hint: str, introspector: Introspector, *, fallback: bool = True) -> None:
        self.by_hint[hint] = introspector
        if fallback:
            self.fallbacks.append(introspector)


def access_token_response(claims: dict[str, Any], token_type: str = "Bearer") -> dict[str, Any]:
    body: dict[str, Any] = {"active": True, "token_type": token_type}
    for name in ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "nbf", "jti", "sid", "tenant",
                 "username", "uid", "role", "api_key_id", "organisation", "patient", "fhirUser"):
        if name in claims:
            body[name] = claims[name]
    return body


async def introspect(rt: Runtime, registry: IntrospectionRegistry, req: OAuthRequest,
                     caller: Any = None) -> dict[str, Any]:
    """``caller`` is an already authenticated principal (e.g. an API key); else client auth applies."""
    if caller is None:
        caller = await authenticate_client(rt, req)
    token = req.form.get("token")
    if not token:
        raise InvalidRequest("token is required")
    hint = req.form.get("token_type_hint")
    tenant = getattr(caller, "tenant_id", None)
    if hint and hint in registry.by_hint and hint != "access_token":
        body = await registry.by_hint[hint](rt, token, caller)
        if body is not None:
            return _same_tenant(body, tenant)
    info, _reason = await rt.verifier.verify_access_token(token)
    if info is not None:
        return _same_tenant(access_token_response(info.claims), tenant)
    for other in registry.fallbacks:
        body = await other(rt, token, caller)
        if body is not None:
            return _same_tenant(body, tenant)
    return INACTIVE


def _same_tenant(body: dict[str, Any], tenant: str | None) -> dict[str, Any]:
    if body.get("active") and tenant is not None and body.get("tenant") not in (None, tenant):
        return INACTIVE
    return body
