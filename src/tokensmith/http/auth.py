"""Who is calling a management endpoint: a Bearer access token (a user's, or an admin client's from
``client_credentials``) becomes a :class:`Principal`; routes declare the permission they need.

Permissions are the token's ``scope`` (a user's token carries the permissions of the user's role), so
``require("ApiKey.write")`` is one call of the scope matcher. Two rules come before any permission: the
token must be meant for this service (its ``aud``, :mod:`tokensmith.tokens.audience`), and it must not be
a session token handed to a browser frontend (:func:`tokensmith.permissions.is_session_token`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Security
from fastapi.security import HTTPAuthorizationCredentials
from starlette.requests import Request

from tokensmith.errors import Forbidden, InsufficientScope, InvalidRequest, InvalidToken
from tokensmith.http.deps import runtime
from tokensmith.http.openapi import bearer_scheme
from tokensmith.inputs import CONTROL_MESSAGE, has_control
from tokensmith.permissions import is_session_token
from tokensmith.scopes import covered_by_any
from tokensmith.tokens.audience import audience_accepted, service_audiences


@dataclass(frozen=True)
class Principal:
    kind: str  # "user" | "client"
    subject: str
    tenant_id: str
    scopes: tuple[str, ...]
    user_id: str | None = None
    client_id: str | None = None
    session_id: str | None = None
    claims: dict[str, Any] = field(default_factory=dict)

    def allows(self, permission: str) -> bool:
        return covered_by_any(self.scopes, permission)

    @property
    def actor(self) -> str:
        return f"user:{self.user_id}" if self.user_id else f"client:{self.client_id}"


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    if has_control(value):  # RFC 6750 §3.1: a malformed request is invalid_request (400)
        raise InvalidRequest("the Bearer token " + CONTROL_MESSAGE,
                             headers={"WWW-Authenticate": 'Bearer error="invalid_request"'})
    return value.strip()


#: Declares the Bearer scheme in the OpenAPI document (Swagger's *Authorize*); the token is checked below.
_BEARER = Security(bearer_scheme())


async def authenticate(request: Request, _declared: HTTPAuthorizationCredentials | None = _BEARER) -> Principal:
    token = bearer_token(request)
    if token is None:
        raise InvalidToken("a Bearer access token is required")
    rt = runtime(request)
    info, reason = await rt.verifier.verify_access_token(token)
    if info is None:
        rt.metrics.auth_failures.labels("bearer").inc()
        raise InvalidToken("the access token is invalid, expired or revoked", debug=reason)
    claims = info.claims
    if not audience_accepted(claims, service_audiences(rt.settings)):
        rt.metrics.auth_failures.labels("bearer").inc()
        raise InvalidToken("the access token is not meant for this service", debug="audience")
    if is_session_token(claims):
        raise Forbidden("a session token (for a browser frontend) cannot call the management API")
    tenant = claims.get("tenant")
    if not isinstance(tenant, str):
        raise InvalidToken("the access token names no tenant")
    scope = claims.get("scope")
    scopes = tuple(scope.split()) if isinstance(scope, str) else ()
    uid = claims.get("uid")
    return Principal(
        kind="user" if uid else "client",
        subject=str(claims.get("sub")),
        tenant_id=tenant,
        scopes=scopes,
        user_id=uid if isinstance(uid, str) else None,
        client_id=claims.get("client_id") if isinstance(claims.get("client_id"), str) else None,
        session_id=claims.get("sid") if isinstance(claims.get("sid"), str) else None,
        claims=claims,
    )


def require(permission: str) -> Callable[[Request], Awaitable[Principal]]:
    """A FastAPI dependency: the caller, who must hold ``permission``."""

    async def dependency(request: Request, _declared: HTTPAuthorizationCredentials | None = _BEARER) -> Principal:
        principal = await authenticate(request)
        if not principal.allows(permission):
            raise InsufficientScope(f"this operation requires the {permission} permission")
        return principal

    return dependency
