"""SMART apps: rows of the OAuth clients table with ``kind = "smart"``, registered in one of four shapes
(SMART App Launch 2.2 §"Client authentication", Backend Services §"Registering a client"):

* **public** (``isConfidential: false``): code flow with PKCE, ``token_endpoint_auth_method = none``;
* **confidential symmetric**: a client secret (shown once, stored as a keyed hash);
* **confidential asymmetric**: ``jwks`` or ``jwksUri`` with ``redirectUris``, ``private_key_jwt``;
* **backend service**: ``jwks`` or ``jwksUri`` without ``redirectUris``: ``client_credentials`` with
  ``private_key_jwt``, ``system/`` scopes only, access tokens of at most 300 s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tokensmith.clients import ClientRecord, create_client, set_client_status, snapshot
from tokensmith.clock import iso_z
from tokensmith.errors import NotFound, ValidationFailed
from tokensmith.smart.jwks import JwksError, check_jwks_url, parse_jwks
from tokensmith.smart.scopes import is_valid_smart_scope, parse_smart_scope
from tokensmith.storage.models import OAuthClient

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

KIND = "smart"
PUBLIC, SYMMETRIC = "public", "confidential-symmetric"
ASYMMETRIC, BACKEND = "confidential-asymmetric", "backend-service"
CODE_FLOW_GRANTS = ["authorization_code", "refresh_token"]
BACKEND_GRANTS = ["client_credentials"]
MAX_BACKEND_TOKEN_TTL = 300
MAX_REDIRECT_URIS = 20
MAX_SCOPES = 100
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def _problem(field: str, msg: str) -> ValidationFailed:
    return ValidationFailed([{"loc": [field], "msg": msg, "type": "value_error"}])


@dataclass(frozen=True)
class AppSpec:
    """A registration as the API body states it (camelCase fields mapped one to one)."""

    name: str
    redirect_uris: list[str]
    scopes: list[str]
    is_confidential: bool
    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = None
    auth_method: str | None = None

    @property
    def profile(self) -> str:
        if self.jwks is not None or self.jwks_uri is not None:
            return ASYMMETRIC if self.redirect_uris else BACKEND
        return SYMMETRIC if self.is_confidential else PUBLIC


def check_redirect_uri(uri: str, *, development: bool) -> None:
    """Absolute, no fragment (RFC 6749 §3.1.2), https outside development except on loopback (RFC 8252
    §7.3)."""
    try:
        parts = urlsplit(uri)
        hostname = parts.hostname  # raises too for a bad port or bracketed host
    except ValueError:
        raise _problem("redirectUris", f"not an absolute URI: {uri[:100]!r}") from None
    if not parts.scheme or not parts.netloc or hostname is None:
        raise _problem("redirectUris", f"not an absolute URI: {uri[:100]!r}")
    if parts.fragment or "#" in uri:
        raise _problem("redirectUris", "a redirect URI must not contain a fragment")
    if parts.username or parts.password:
        raise _problem("redirectUris", "a redirect URI must not carry credentials")
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and (development or hostname in _LOOPBACK):
        return
    raise _problem("redirectUris", "redirect URIs must be https:// (http:// only on loopback outside development)")


def check_scopes(scopes: list[str], profile: str) -> list[str]:
    """SMART scopes only; backend services act for no one (``system/`` only), the others for a person."""
    if len(scopes) > MAX_SCOPES:
        raise _problem("scopes", f"at most {MAX_SCOPES} scopes")
    for scope in scopes:
        if not is_valid_smart_scope(scope):
            raise _problem("scopes", f"not a SMART scope: {scope[:100]!r}")
        parsed = parse_smart_scope(scope)
        is_system = parsed is not None and parsed.context == "system"
        if profile == BACKEND and not is_system:
            raise _problem("scopes", f"a backend service may hold system/ scopes only, not {scope[:100]!r}")
        if profile != BACKEND and is_system:
            raise _problem("scopes", f"system/ scopes are for backend services, not {scope[:100]!r}")
    return list(dict.fromkeys(scopes))


def check_keys(spec: AppSpec, *, development: bool) -> None:
    if spec.jwks is not None and spec.jwks_uri is not None:
        raise _problem("jwks", "give jwks or jwksUri, not both")
    try:
        if spec.jwks is not None:
            parse_jwks(spec.jwks)
        if spec.jwks_uri is not None:
            check_jwks_url(spec.jwks_uri, development=development)
    except JwksError as exc:
        raise _problem("jwksUri" if spec.jwks_uri is not None else "jwks", str(exc)) from None
    if (spec.jwks is not None or spec.jwks_uri is not None) and not spec.is_confidential:
        raise _problem("isConfidential", "an app that registers keys is confidential")


def validate(spec: AppSpec, *, development: bool) -> None:
    if len(spec.redirect_uris) > MAX_REDIRECT_URIS:
        raise _problem("redirectUris", f"at most {MAX_REDIRECT_URIS} redirect URIs")
    for uri in spec.redirect_uris:
        check_redirect_uri(uri, development=development)
    check_keys(spec, development=development)
    if spec.profile in (PUBLIC, SYMMETRIC) and not spec.redirect_uris:
        raise _problem("redirectUris", "an app without keys signs people in: it needs redirectUris")
    check_scopes(spec.scopes, spec.profile)
    if spec.auth_method is not None and (spec.profile != SYMMETRIC or spec.auth_method not in (
            "client_secret_basic", "client_secret_post")):
        raise _problem("tokenEndpointAuthMethod",
                       "only confidential symmetric apps choose: client_secret_basic or client_secret_post")


def profile_of(record: ClientRecord) -> str:
    if record.jwks is not None or record.jwks_uri is not None:
        return ASYMMETRIC if record.redirect_uris else BACKEND
    return SYMMETRIC if record.is_confidential else PUBLIC


def app_view(record: ClientRecord, created_at: Any = None) -> dict[str, Any]:
    """The API body (``GET /smart/apps``; ``POST`` adds ``clientSecret`` for confidential symmetric apps)."""
    body: dict[str, Any] = {"id": record.id, "clientId": record.client_id}
    body.update({
        "name": record.name, "redirectUris": list(record.redirect_uris), "scopes": list(record.allowed_scopes),
        "isConfidential": record.is_confidential, "profile": profile_of(record),
        "tokenEndpointAuthMethod": record.auth_method, "grantTypes": list(record.grant_types),
        "jwks": record.jwks, "jwksUri": record.jwks_uri, "accessTokenTtl": record.access_token_ttl,
        "active": record.active,
    })
    if created_at is not None:
        body["createdAt"] = iso_z(created_at)
    return body


async def register_app(rt: Runtime, *, tenant_id: str, spec: AppSpec, actor: str | None = None) -> dict[str, Any]:
    """Register an app; returns its API body (with the secret, once, for confidential symmetric apps)."""
    validate(spec, development=rt.settings.is_development)
    profile = spec.profile
    backend = profile == BACKEND
    ttl = (min(rt.settings.smart_backend_token_ttl, MAX_BACKEND_TOKEN_TTL) if backend
           else rt.settings.smart_app_token_ttl)
    method = "private_key_jwt" if profile in (ASYMMETRIC, BACKEND) else (spec.auth_method or "client_secret_basic")
    record, secret = await create_client(
        rt, tenant_id=tenant_id, name=spec.name, scopes=spec.scopes, kind=KIND,
        grant_types=BACKEND_GRANTS if backend else CODE_FLOW_GRANTS, access_token_ttl=ttl,
        is_confidential=spec.is_confidential, auth_method=method, redirect_uris=spec.redirect_uris,
        jwks=spec.jwks, jwks_uri=spec.jwks_uri, actor=actor)
    body = await get_app(rt, tenant_id, record.client_id)
    if secret is None:
        return body
    return {"id": body.pop("id"), "clientId": body.pop("clientId"), "clientSecret": secret, **body}


async def _row(session: AsyncSession, tenant_id: str, app_id: str) -> OAuthClient:
    row = (await session.execute(select(OAuthClient).where(
        OAuthClient.kind == KIND, OAuthClient.tenant_id == tenant_id,
        (OAuthClient.id == app_id) | (OAuthClient.client_id == app_id)))).scalar()
    if row is None:
        raise NotFound("app not found")
    return row


async def list_apps(rt: Runtime, tenant_id: str | None) -> list[dict[str, Any]]:
    async with rt.db.session() as session:
        query = select(OAuthClient).where(OAuthClient.kind == KIND).order_by(OAuthClient.created_at)
        if tenant_id is not None:
            query = query.where(OAuthClient.tenant_id == tenant_id)
        rows = (await session.execute(query)).scalars().all()
        return [app_view(snapshot(r, None), r.created_at) for r in rows]


async def get_app(rt: Runtime, tenant_id: str, app_id: str) -> dict[str, Any]:
    async with rt.db.session() as session:
        row = await _row(session, tenant_id, app_id)
        return app_view(snapshot(row, None), row.created_at)


async def update_app(rt: Runtime, tenant_id: str, app_id: str, changes: dict[str, Any],
                     *, actor: str | None = None) -> dict[str, Any]:
    """Change name, redirectUris, scopes, jwks/jwksUri or active; the app keeps its profile."""
    active = changes.pop("active", None)
    async with rt.db.session() as session:
        row = await _row(session, tenant_id, app_id)
        before = profile_of(snapshot(row, None))
        jwks, jwks_uri = row.jwks, row.jwks_uri
        if "jwks" in changes or "jwks_uri" in changes:  # new keys replace the old ones, inline or by URL
            jwks, jwks_uri = changes.get("jwks"), changes.get("jwks_uri")
        spec = AppSpec(name=changes.get("name", row.name),
                       redirect_uris=changes.get("redirect_uris", list(row.redirect_uris or [])),
                       scopes=changes.get("scopes", list(row.scopes or [])), is_confidential=row.is_confidential,
                       jwks=jwks, jwks_uri=jwks_uri)
        if spec.profile != before:
            raise _problem("redirectUris" if "redirect_uris" in changes else "jwks",
                           f"this change would turn a {before} app into a {spec.profile} app; register a new app")
        validate(spec, development=rt.settings.is_development)
        row.name, row.redirect_uris, row.scopes = spec.name, spec.redirect_uris, check_scopes(spec.scopes, before)
        row.jwks, row.jwks_uri = spec.jwks, spec.jwks_uri
        await rt.revocations.changed(session, f"client:{row.client_id}")
        client_id = row.client_id
    rt.clients.invalidate(client_id)
    if changes:
        rt.audit.record("app.updated", tenant_id=tenant_id, actor=actor, subject=client_id,
                        fields=sorted(changes))
    if active is not None:
        await set_client_status(rt, client_id, bool(active), actor=actor)
    return await get_app(rt, tenant_id, client_id)


async def delete_app(rt: Runtime, tenant_id: str, app_id: str, *, actor: str | None = None) -> None:
    """Disable (every token it holds stops working at once), then remove the registration."""
    async with rt.db.session() as session:
        client_id = (await _row(session, tenant_id, app_id)).client_id
    await set_client_status(rt, client_id, False, actor=actor)
    async with rt.db.session() as session:
        await session.delete(await _row(session, tenant_id, client_id))
        await rt.revocations.changed(session, f"client:{client_id}")
    rt.clients.invalidate(client_id)
    rt.audit.record("app.deleted", tenant_id=tenant_id, actor=actor, subject=client_id)


__all__ = ["AppSpec", "app_view", "delete_app", "get_app", "list_apps", "register_app", "update_app"]
