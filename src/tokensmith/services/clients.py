"""OAuth clients: the cached snapshot used on the hot path, and the management operations."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tokensmith.errors import Conflict, InvalidRequest, NotFound
from tokensmith.ids import new_id, random_token
from tokensmith.scopes import covered_by_any, not_covered
from tokensmith.storage.cache import LoadingCache
from tokensmith.storage.models import OAuthClient, Role

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

GRANT_CLIENT_CREDENTIALS = "client_credentials"
#: RFC 7591 §2 methods a client may register (``none`` is implied by ``is_confidential=False``)
CLIENT_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")


@dataclass(frozen=True)
class ClientRecord:
    """An immutable snapshot of a client: what the token endpoint needs, without the ORM."""

    id: str
    tenant_id: str
    client_id: str
    name: str
    kind: str
    is_confidential: bool
    secret_hash: str | None = field(repr=False)
    previous_secret_hash: str | None = field(repr=False)
    previous_secret_expires_at: float | None
    auth_method: str
    grant_types: tuple[str, ...]
    redirect_uris: tuple[str, ...]
    allowed_scopes: tuple[str, ...]
    role: str | None
    access_token_ttl: int
    access_token_format: str
    status: str
    tokens_valid_after_ms: int
    jwks: dict[str, Any] | None
    jwks_uri: str | None

    @property
    def active(self) -> bool:
        return self.status == "active"

    def public_view(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "name": self.name,
            "tenant_id": self.tenant_id,
            "kind": self.kind,
            "is_confidential": self.is_confidential,
            "token_endpoint_auth_method": self.auth_method,
            "grant_types": list(self.grant_types),
            "redirect_uris": list(self.redirect_uris),
            "scopes": list(self.allowed_scopes),
            "role": self.role,
            "access_token_ttl": self.access_token_ttl,
            "access_token_format": self.access_token_format,
            "status": self.status,
        }


def snapshot(row: OAuthClient, role: Role | None) -> ClientRecord:
    # The role is the most the client may get; its own scopes, when it has some, narrow that (and a role
    # narrowed later cuts them down with it).
    if role is None:
        allowed = tuple(row.scopes or ())
    elif row.scopes:
        allowed = tuple(s for s in row.scopes if covered_by_any(role.permissions, s))
    else:
        allowed = tuple(role.permissions)
    prev_exp = row.previous_secret_expires_at.timestamp() if row.previous_secret_expires_at else None
    return ClientRecord(
        id=row.id, tenant_id=row.tenant_id, client_id=row.client_id, name=row.name, kind=row.kind,
        is_confidential=row.is_confidential, secret_hash=row.secret_hash,
        previous_secret_hash=row.previous_secret_hash, previous_secret_expires_at=prev_exp,
        auth_method=row.token_endpoint_auth_method, grant_types=tuple(row.grant_types or ()),
        redirect_uris=tuple(row.redirect_uris or ()), allowed_scopes=allowed,
        role=role.name if role is not None else None, access_token_ttl=row.access_token_ttl,
        access_token_format=row.access_token_format, status=row.status,
        tokens_valid_after_ms=row.tokens_valid_after_ms, jwks=row.jwks, jwks_uri=row.jwks_uri,
    )


class ClientDirectory:
    """Client lookups for the hot path: cached per process, invalidated by the revocation feed
    (``changed client:<id>``) and by a TTL as a backstop. Unknown ids are cached briefly too, so that
    guessing client ids costs the database nothing."""

    NEGATIVE_TTL = 2.0

    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime
        self._cache: LoadingCache[str, ClientRecord | None] = LoadingCache(max_entries=50_000)

    def invalidate(self, client_id: str | None = None) -> None:
        self._cache.invalidate(client_id)

    async def get(self, client_id: str) -> ClientRecord | None:
        return await self._cache.get(client_id, lambda: self.load(client_id), self._ttl)

    def _ttl(self, record: ClientRecord | None) -> float:
        return self._rt.settings.client_cache_ttl if record is not None else self.NEGATIVE_TTL

    async def load(self, client_id: str) -> ClientRecord | None:
        async with self._rt.db.session() as session:
            row = (await session.execute(select(OAuthClient).where(OAuthClient.client_id == client_id))).scalar()
            if row is None:
                return None
            role = await session.get(Role, row.role_id) if row.role_id else None
            return snapshot(row, role)


def _new_client_id() -> str:
    """A random URL-safe client id that never starts with ``-`` (a CLI would read it as an option)."""
    while True:
        cid = random_token(18)
        if cid[0] not in "-_":
            return cid


async def _find_role(session: AsyncSession, tenant_id: str, name: str) -> Role:
    role = (await session.execute(select(Role).where(Role.tenant_id == tenant_id, Role.name == name))).scalar()
    if role is None:
        raise NotFound(f"role {name!r} does not exist in this tenant")
    return role


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
    if auth_method not in CLIENT_AUTH_METHODS:
        raise InvalidRequest(f"token_endpoint_auth_method must be one of {CLIENT_AUTH_METHODS}")
    if auth_method == "private_key_jwt" and not (jwks or jwks_uri):
        raise InvalidRequest("private_key_jwt needs the client's public keys (jwks or jwks_uri)")
    ttl = access_token_ttl or rt.settings.client_token_ttl
    if ttl <= 0 or ttl > rt.settings.max_token_ttl:
        raise InvalidRequest(f"access token lifetime must be between 1 and {rt.settings.max_token_ttl} seconds")
    secret = random_token(32) if is_confidential and not (jwks or jwks_uri) else None
    async with rt.db.session() as session:
        role_row = await _find_role(session, tenant_id, role) if role else None
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
