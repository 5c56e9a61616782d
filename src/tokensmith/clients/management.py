"""OAuth client management (CLI ``tokensmith clients``, the console, SMART app registration): each operation
one transaction that also writes its revocation-feed entry, then its audit event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tokensmith.clients.records import GRANT_CLIENT_CREDENTIALS, ClientRecord, snapshot
from tokensmith.errors import Conflict, InvalidRequest, NotFound
from tokensmith.ids import new_id, random_token
from tokensmith.people.roles import find_role
from tokensmith.scopes import not_covered
from tokensmith.storage.models import OAuthClient, Role

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime


def _new_client_id() -> str:
    """A random URL-safe client id that never starts with ``-`` (a CLI would read it as an option)."""
    while True:
        cid = random_token(18)
        if cid[0] not in "-_":
            return cid


def auth_methods(rt: Runtime) -> tuple[str, ...]:
    """The ``token_endpoint_auth_method`` values a confidential client may register: the methods the
    authorization server has registered for OAuth clients (``none`` comes with ``is_confidential=False``).
    The registry is the one list: a method becomes registrable by being registered (``private_key_jwt`` by
    :mod:`tokensmith.smart`), never by editing a second list here."""
    return rt.authorization.client_auth.registrable()


async def create_client(
    rt: Runtime,
    *,
    tenant_id: str,
    name: str,
    scopes: list[str] | None = None,
    role: str | None = None,
    grant_types: list[str] | None = None,
    access_token_ttl: int | None = None,
    access_token_format: str = "jwt",
    is_confidential: bool = True,
    auth_method: str = "client_secret_basic",
    redirect_uris: list[str] | None = None,
    client_id: str | None = None,
    kind: str = "oauth",
    jwks: dict[str, Any] | None = None,
    jwks_uri: str | None = None,
    actor: str | None = None,
) -> tuple[ClientRecord, str | None]:
    """Create a client; returns (record, secret). The secret exists only in this return value."""
    rt.token_formats.get(access_token_format)  # InvalidRequest naming the registered formats
    methods = auth_methods(rt)
    if auth_method not in methods:
        raise InvalidRequest(f"token_endpoint_auth_method must be one of {', '.join(methods)}")
    if auth_method == "private_key_jwt" and not (jwks or jwks_uri):
        raise InvalidRequest("private_key_jwt needs the client's public keys (jwks or jwks_uri)")
    if (jwks or jwks_uri) and auth_method != "private_key_jwt":
        raise InvalidRequest("keys (jwks or jwks_uri) are for token_endpoint_auth_method private_key_jwt")
    _check_keys(rt, jwks, jwks_uri)
    ttl = access_token_ttl or rt.settings.client_token_ttl
    if ttl <= 0 or ttl > rt.settings.max_token_ttl:
        raise InvalidRequest(f"access token lifetime must be between 1 and {rt.settings.max_token_ttl} seconds")
    secret = random_token(32) if is_confidential and not (jwks or jwks_uri) else None
    async with rt.db.session() as session:
        role_row = await find_role(session, tenant_id, role) if role else None
        beyond = not_covered(role_row.permissions, scopes or []) if role_row else []
        if beyond:
            raise InvalidRequest(f"scopes beyond the role {role!r}: {' '.join(beyond)}")
        cid = client_id or _new_client_id()
        exists = (await session.execute(select(OAuthClient.id).where(OAuthClient.client_id == cid))).first()
        if exists:
            raise Conflict(f"client id {cid!r} is taken")
        row = OAuthClient(
            id=new_id(), tenant_id=tenant_id, client_id=cid, name=name, kind=kind,
            is_confidential=is_confidential,
            secret_hash=rt.master.secret_hash(secret) if secret else None,
            token_endpoint_auth_method=(auth_method if is_confidential else "none"),
            grant_types=grant_types or [GRANT_CLIENT_CREDENTIALS], redirect_uris=redirect_uris or [],
            scopes=scopes or [], role_id=role_row.id if role_row else None, access_token_ttl=ttl,
            access_token_format=access_token_format, jwks=jwks, jwks_uri=jwks_uri, status="active",
            tokens_valid_after_ms=0,
        )
        session.add(row)
        await session.flush()
        record = snapshot(row, role_row)
    rt.audit.record("client.created", tenant_id=tenant_id, actor=actor, subject=record.client_id,
                    name=name, scopes=list(record.allowed_scopes), format=access_token_format, ttl=ttl)
    return record, secret


async def list_clients(rt: Runtime, tenant_id: str | None = None) -> list[ClientRecord]:
    async with rt.db.session() as session:
        query = select(OAuthClient).order_by(OAuthClient.created_at)
        if tenant_id:
            query = query.where(OAuthClient.tenant_id == tenant_id)
        rows = (await session.execute(query)).scalars().all()
        roles = {r.id: r for r in (await session.execute(select(Role))).scalars().all()}
        return [snapshot(r, roles.get(r.role_id) if r.role_id else None) for r in rows]


async def _get_row(session: AsyncSession, client_id: str) -> OAuthClient:
    row = (await session.execute(select(OAuthClient).where(OAuthClient.client_id == client_id))).scalar()
    if row is None:
        raise NotFound(f"client {client_id!r} does not exist")
    return row


async def set_client_status(rt: Runtime, client_id: str, active: bool, *, actor: str | None = None) -> None:
    """Disabling cuts off every token the client holds (they fail introspection and guards at once)."""
    now_ms = int(rt.clock.now() * 1000)
    async with rt.db.session() as session:
        row = await _get_row(session, client_id)
        row.status = "active" if active else "disabled"
        if not active:
            row.tokens_valid_after_ms = now_ms
            await rt.revocations.revoke(session, "client", client_id, not_before_ms=now_ms)
        await rt.revocations.changed(session, f"client:{client_id}")
        tenant_id = row.tenant_id
    rt.clients.invalidate(client_id)
    rt.audit.record("client.enabled" if active else "client.disabled", tenant_id=tenant_id, actor=actor,
                    subject=client_id)


async def rotate_client_secret(rt: Runtime, client_id: str, *, grace_seconds: int = 0,
                               actor: str | None = None) -> str:
    """New secret. Without grace the old secret and every token issued before stop working at once;
    with grace the old secret keeps working (and its tokens stay valid) for that long."""
    if grace_seconds < 0:
        raise InvalidRequest("grace period must not be negative")
    secret = random_token(32)
    now = rt.clock.now()
    async with rt.db.session() as session:
        row = await _get_row(session, client_id)
        if not row.is_confidential or row.secret_hash is None:
            raise InvalidRequest("this client has no secret to rotate")
        if grace_seconds > 0:
            row.previous_secret_hash = row.secret_hash
            row.previous_secret_expires_at = datetime.fromtimestamp(now, UTC) + timedelta(seconds=grace_seconds)
        else:
            row.previous_secret_hash = None
            row.previous_secret_expires_at = None
            row.tokens_valid_after_ms = int(now * 1000)
            await rt.revocations.revoke(session, "client", client_id, not_before_ms=row.tokens_valid_after_ms)
        row.secret_hash = rt.master.secret_hash(secret)
        await rt.revocations.changed(session, f"client:{client_id}")
        tenant_id = row.tenant_id
    rt.clients.invalidate(client_id)
    rt.audit.record("client.secret_rotated", tenant_id=tenant_id, actor=actor, subject=client_id,
                    grace_seconds=grace_seconds)
    return secret


async def set_redirect_uris(rt: Runtime, client_id: str, redirect_uris: list[str], *,
                            actor: str | None = None) -> None:
    """Replace the client's redirect URIs (exact-match list, RFC 6749 §3.1.2.2); every instance's cached
    copy of the client is dropped through the revocation feed."""
    async with rt.db.session() as session:
        row = await _get_row(session, client_id)
        row.redirect_uris = list(redirect_uris)
        await rt.revocations.changed(session, f"client:{client_id}")
        tenant_id = row.tenant_id
    rt.clients.invalidate(client_id)
    rt.audit.record("client.redirect_uris_changed", tenant_id=tenant_id, actor=actor, subject=client_id,
                    redirect_uris=list(redirect_uris))


def _check_keys(rt: Runtime, jwks: dict[str, Any] | None, jwks_uri: str | None) -> None:
    """A registered set must hold public RSA/EC signature keys, and a set's URL must be one we would
    fetch: refused here rather than at the client's first token request."""
    from tokensmith.smart.jwks import JwksError, check_jwks_url, parse_jwks

    try:
        if jwks is not None:
            parse_jwks(jwks)
        if jwks_uri is not None:
            settings = rt.settings
            check_jwks_url(jwks_uri, development=settings.is_development,
                           allow_internal=settings.is_development or settings.client_jwks_allow_internal)
    except JwksError as exc:
        raise InvalidRequest(str(exc)) from None
