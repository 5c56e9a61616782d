"""Personal user tokens (spec §C): long-lived credentials a user creates and revokes; they never
expire on their own. Each is stored as a keyed hash (shown once) and owns a session of kind
``user_token``, so every access token it mints carries that ``sid``: revoking the user token revokes the
session, and with it every access token it minted, at once.

``POST /api/user/oauth2/token`` (``grant_type=refresh_token``) mints an opaque access token (10 minutes
by default) that introspection and the guard accept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeAlias

from sqlalchemy import Row, String, any_, bindparam, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY

from tokensmith.clock import iso_z, utc
from tokensmith.errors import Gone, InvalidRequest, NotFound, RateLimited
from tokensmith.ids import MAX_TOKEN_LENGTH, new_id, random_hex
from tokensmith.people.db import autocommit, writing_first
from tokensmith.people.sessions import LOGIN_CLIENT_ID, USER_TOKEN_CLIENT_ID, issue_access_token, revoke_session
from tokensmith.storage.batching import Batcher, database_batcher
from tokensmith.storage.models import Role, Session, Token, User
from tokensmith.tokens.formats import IssuedToken

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

_T = Token.__table__
_S = Session.__table__
_U = User.__table__
_R = Role.__table__
#: ``last_used_at`` (and the ``user_token.used`` audit event) is written at most this often per token.
USE_RECORD_INTERVAL = timedelta(seconds=60)
MAX_TOKENS_PER_USER = 100


@dataclass(frozen=True)
class UserTokenRecord:
    id: str
    user_id: str
    tenant_id: str
    name: str | None
    session_id: str | None
    created_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "userId": self.user_id, "sessionId": self.session_id,
                "createdAt": iso_z(self.created_at), "lastUsedAt": iso_z(self.last_used_at),
                "revokedAt": iso_z(self.revoked_at), "active": self.revoked_at is None}


def _record(row: Any) -> UserTokenRecord:
    return UserTokenRecord(id=row.id, user_id=row.user_id, tenant_id=row.tenant_id, name=row.name,
                           session_id=row.session_id, created_at=row.created_at, last_used_at=row.last_used_at,
                           revoked_at=row.revoked_at)


async def create_user_token(rt: Runtime, *, user_id: str, tenant_id: str, name: str | None,
                            actor: str | None = None, ip: str | None = None) -> tuple[UserTokenRecord, str]:
    """Returns (record, token); the token exists only in this return value."""
    name = (name or "").strip() or None
    if name is not None and len(name) > 200:
        raise InvalidRequest("the name is at most 200 characters")
    value = random_hex(32)
    now = utc(rt.clock.now())
    sid = new_id()
    token_id = new_id()
    async with rt.db.session() as session:
        owner = (await session.execute(select(_U.c.id).where(_U.c.id == user_id, _U.c.tenant_id == tenant_id))).first()
        if owner is None:
            raise NotFound("user not found")
        live = len((await session.execute(select(_T.c.id).where(
            _T.c.user_id == user_id, _T.c.kind == "user_token", _T.c.revoked_at.is_(None)))).all())
        if live >= MAX_TOKENS_PER_USER:
            raise InvalidRequest(f"a user can hold at most {MAX_TOKENS_PER_USER} user tokens; revoke one first")
        await session.execute(_S.insert().values(
            id=sid, tenant_id=tenant_id, kind="user_token", user_id=user_id, client_id=None, created_at=now,
            last_seen_at=now, expires_at=None, revoked_at=None, revoked_reason=None, ip=ip, user_agent=None))
        await session.execute(_T.insert().values(
            id=token_id, token_hash=rt.master.secret_hash(value), kind="user_token", tenant_id=tenant_id,
            client_id=None, user_id=user_id, session_id=sid, name=name, scopes=[], claims={}, parent_id=None,
            created_at=now, expires_at=None, used_at=None, last_used_at=None, revoked_at=None))
    record = UserTokenRecord(id=token_id, user_id=user_id, tenant_id=tenant_id, name=name, session_id=sid,
                             created_at=now, last_used_at=None, revoked_at=None)
    rt.audit.record("user_token.created", tenant_id=tenant_id, actor=actor, subject=token_id, ip=ip,
                    user_id=user_id, name=name)
    return record, value


async def list_user_tokens(rt: Runtime, tenant_id: str, *, user_id: str | None = None,
                           include_revoked: bool = False) -> list[UserTokenRecord]:
    query = select(_T.c.id, _T.c.user_id, _T.c.tenant_id, _T.c.name, _T.c.session_id, _T.c.created_at,
                   _T.c.last_used_at, _T.c.revoked_at).where(_T.c.kind == "user_token", _T.c.tenant_id == tenant_id)
    if user_id is not None:
        query = query.where(_T.c.user_id == user_id)
    if not include_revoked:
        query = query.where(_T.c.revoked_at.is_(None))
    async with rt.db.session() as session:
        rows = (await session.execute(query.order_by(_T.c.created_at.desc()))).all()
    return [_record(r) for r in rows]


async def get_user_token(rt: Runtime, token_id: str, tenant_id: str | None = None) -> UserTokenRecord:
    query = select(_T.c.id, _T.c.user_id, _T.c.tenant_id, _T.c.name, _T.c.session_id, _T.c.created_at,
                   _T.c.last_used_at, _T.c.revoked_at).where(_T.c.id == token_id, _T.c.kind == "user_token")
    if tenant_id is not None:
        query = query.where(_T.c.tenant_id == tenant_id)
    async with rt.db.session() as session:
        row = (await session.execute(query)).first()
    if row is None:
        raise NotFound("user token not found")
    return _record(row)


async def revoke_user_token(rt: Runtime, token_id: str, *, tenant_id: str | None = None, actor: str | None = None,
                            ip: str | None = None, request_id: str | None = None) -> UserTokenRecord:
    record = await get_user_token(rt, token_id, tenant_id)
    now = utc(rt.clock.now())
    async with rt.db.session() as session:
        await session.execute(update(_T).where(_T.c.id == token_id, _T.c.revoked_at.is_(None)).values(revoked_at=now))
    if record.session_id:
        await revoke_session(rt, record.session_id, reason="user token revoked", actor=actor, ip=ip,
                             request_id=request_id)
    if record.revoked_at is None:
        rt.audit.record("user_token.revoked", tenant_id=record.tenant_id, actor=actor, subject=token_id, ip=ip,
                        request_id=request_id, user_id=record.user_id)
    return record


_LOOKUP_COLUMNS = (_T.c.token_hash, _T.c.id, _T.c.revoked_at, _T.c.user_id, _T.c.tenant_id, _T.c.session_id,
                   _T.c.last_used_at, _U.c.status, _U.c.project_permissions, _R.c.name.label("role"),
                   _R.c.permissions)


_LOOKUP_FROM = _T.join(_U, _U.c.id == _T.c.user_id).join(_R, _R.c.id == _U.c.role_id)
#: PostgreSQL: one array parameter, so every batch size is the same prepared statement.
_LOOKUP_PG = (select(*_LOOKUP_COLUMNS).select_from(_LOOKUP_FROM)
              .where(_T.c.token_hash == any_(bindparam("digests", type_=ARRAY(String))), _T.c.kind == "user_token"))


def _lookup(rt: Runtime, digests: list[str]) -> tuple[Any, dict[str, Any]]:
    if rt.db.dialect == "postgresql":
        return _LOOKUP_PG, {"digests": digests}
    query = select(*_LOOKUP_COLUMNS).select_from(_LOOKUP_FROM).where(_T.c.token_hash.in_(digests),
                                                                      _T.c.kind == "user_token")
    return query, {}


@dataclass(frozen=True)
class _Exchange:
    digest: str
    ip: str | None
    request_id: str | None


class _Rows:
    """Collects the rows the issuer stores (``conn=``), to insert them in one ``executemany``."""

    def __init__(self) -> None:
        self.statement: Any = None
        self.rows: list[dict[str, Any]] = []

    async def execute(self, statement: Any, row: dict[str, Any]) -> None:
        self.statement = statement
        self.rows.append(row)


async def exchange_user_token(rt: Runtime, token: str, *, ip: str | None = None,
                              request_id: str | None = None) -> dict[str, Any]:
    """``POST /api/user/oauth2/token``: the user token for a short-lived opaque access token, minted with
    the user's role as it is now. Concurrent exchanges are grouped (one lookup and one insert for the whole
    group, :mod:`tokensmith.storage.batching`)."""
    digest = rt.master.secret_hash(token) if len(token) <= 512 else ""
    request = _Exchange(digest, ip, request_id)
    row, access = await rt.user_token_batcher.submit(request)
    if row is None:
        await _count_unknown(rt, ip)
        raise NotFound("unknown user token", code="invalid_grant")
    if access is None:
        if rt.tenants.is_disabled(row.tenant_id) and row.revoked_at is None:
            raise Gone("the user token's tenant is disabled", code="invalid_grant")
        if row.status != "active" and row.revoked_at is None:
            raise Gone("the user token's user is disabled", code="invalid_grant")
        raise Gone("the user token has been revoked", code="invalid_grant")
    return {
        "user_id": row.user_id,
        "access_token": access.value,
        "session_id": row.session_id,
        "role": row.role,
        "refresh_token": token,
        "role_permissions": list(row.permissions or []),
        "project_permissions": list(row.project_permissions or []),
        "tenant": row.tenant_id,
    }


async def _exchange_batch(rt: Runtime, items: list[_Exchange]) -> list[_Exchanged]:
    """Look the user tokens up, mint an access token for each usable one, store them all, and record
    use (``last_used_at``, audit) at most once a minute per token."""
    results: list[_Exchanged] = []
    rows = _Rows()
    # the lookup is a read of its own; the writes then go in one transaction that starts with a write
    # (on SQLite no write turn, so the batch does not queue behind the audit writer: docs/benchmarks.md)
    async with autocommit(rt) as conn:
        query, params = _lookup(rt, sorted({i.digest for i in items}))
        found = {r.token_hash: r for r in (await conn.execute(query, params)).all()}
    now = utc(rt.clock.now())
    used: dict[str, tuple[Any, _Exchange]] = {}
    for item in items:
        row = found.get(item.digest)
        usable = (row is not None and row.revoked_at is None and row.session_id is not None
                  and row.status == "active" and not rt.revocations.is_sid_revoked(row.session_id)
                  and not rt.tenants.is_disabled(row.tenant_id))
        access = None
        if usable and row is not None:
            access = await issue_access_token(
                rt, user_id=row.user_id, tenant_id=row.tenant_id, role=row.role,
                permissions=list(row.permissions or []), project_permissions=list(row.project_permissions or []),
                session_id=row.session_id, fmt="opaque", ttl=rt.settings.user_token_access_ttl,
                client_id=USER_TOKEN_CLIENT_ID, conn=rows)
            if row.last_used_at is None or now - row.last_used_at >= USE_RECORD_INTERVAL:
                used.setdefault(row.id, (row, item))
        results.append((row, access))
    if rows.rows:
        async with writing_first(rt) as conn:
            await conn.execute(rows.statement, rows.rows)
            if used:
                await _record_use(rt, conn, used, now)
    return results


async def _record_use(rt: Runtime, conn: Any, used: dict[str, tuple[Any, _Exchange]], now: datetime) -> None:
    recorded = list((await conn.execute(
        update(_T).where(_T.c.id.in_(list(used)),
                         or_(_T.c.last_used_at.is_(None), _T.c.last_used_at <= now - USE_RECORD_INTERVAL))
        .values(last_used_at=now).returning(_T.c.id))).scalars())
    if not recorded:
        return
    await conn.execute(update(_S).where(_S.c.id.in_([used[i][0].session_id for i in recorded]))
                       .values(last_seen_at=now))
    for token_id in recorded:
        row, item = used[token_id]
        rt.audit.record("user_token.used", tenant_id=row.tenant_id, actor=f"user:{row.user_id}", subject=token_id,
                        ip=item.ip, request_id=item.request_id)


async def _count_unknown(rt: Runtime, ip: str | None) -> None:
    """Unknown tokens count against the caller's IP like failed client authentications."""
    if not ip:
        return
    retry = await rt.limiter.hit(rt.settings.client_auth_failures_per_minute, "user-token-unknown", ip)
    if retry is not None:
        raise RateLimited(retry, oauth=False)


# ---- introspection (RFC 7662) of sign-in refresh tokens and user tokens -----------------------------

class RefreshOrUserTokenIntrospector:
    """RFC 7662 for sign-in refresh tokens and user tokens (registered in :mod:`tokensmith.authorization`)."""

    hint = "refresh_token"

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    async def introspect(self, token: str, caller: Any) -> dict[str, Any] | None:
        return await introspect_refresh_or_user_token(self._rt, token)


async def introspect_refresh_or_user_token(rt: Runtime, token: str) -> dict[str, Any] | None:
    """None for tokens this feature does not know."""
    if len(token) > MAX_TOKEN_LENGTH:
        return None
    digest = rt.master.secret_hash(token)
    async with rt.db.session() as session:
        row = (await session.execute(
            select(_T.c.kind, _T.c.user_id, _T.c.tenant_id, _T.c.session_id, _T.c.created_at, _T.c.expires_at,
                   _T.c.used_at, _T.c.revoked_at, _S.c.kind.label("session_kind"),
                   _S.c.revoked_at.label("session_revoked_at"), _U.c.status, _U.c.email, _R.c.name.label("role"))
            .select_from(_T.join(_S, _S.c.id == _T.c.session_id).join(_U, _U.c.id == _T.c.user_id)
                         .join(_R, _R.c.id == _U.c.role_id))
            .where(_T.c.token_hash == digest, _T.c.kind.in_(("refresh", "user_token"))))).first()
    if row is None:
        return None
    expected_session = "login" if row.kind == "refresh" else "user_token"
    if row.session_kind != expected_session:
        return None
    now = rt.clock.now()
    exp = row.expires_at.timestamp() if row.expires_at is not None else None
    if row.kind == "refresh":
        idle_end = row.created_at.timestamp() + rt.settings.session_idle_timeout
        exp = min(exp, idle_end) if exp is not None else idle_end
    inactive = (row.revoked_at is not None or row.session_revoked_at is not None or row.used_at is not None
                or row.status != "active" or (exp is not None and exp <= now)
                or rt.revocations.is_sid_revoked(row.session_id) or rt.tenants.is_disabled(row.tenant_id)
                or (row.kind == "refresh" and rt.revocations.issued_before_cutoff(
                    "tenant", row.tenant_id, int(row.created_at.timestamp() * 1000))))
    if inactive:
        return {"active": False}
    body: dict[str, Any] = {"active": True, "token_type": "refresh_token" if row.kind == "refresh" else "user_token",
                            "sub": row.user_id, "uid": row.user_id, "username": row.email, "sid": row.session_id,
                            "tenant": row.tenant_id, "role": row.role, "iat": int(row.created_at.timestamp()),
                            "client_id": USER_TOKEN_CLIENT_ID if row.kind == "user_token" else LOGIN_CLIENT_ID}
    if exp is not None:
        body["exp"] = int(exp)
    return body


#: What one exchange found: the user token's row (None when unknown) and the access token (None when
#: the user token may not be used).
_Exchanged: TypeAlias = tuple[Row[Any] | None, IssuedToken | None]
UserTokenBatcher: TypeAlias = Batcher[_Exchange, _Exchanged]


def user_token_batcher(rt: Runtime) -> UserTokenBatcher:
    """Concurrent exchanges share one lookup and one insert."""
    return database_batcher(rt.db.dialect, lambda items: _exchange_batch(rt, items))
