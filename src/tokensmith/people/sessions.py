"""Sessions of people: one per sign-in (``login``) and one per personal user token (``user_token``).
Every token issued under a session carries its id as ``sid``; revoking the session (logout, an admin,
refresh-token reuse) revokes all of them at once through the revocation feed.

A sign-in session ends after ``session_absolute_timeout`` whatever happens, and earlier when its
refresh token has not been used for ``session_idle_timeout`` (the current refresh token's creation time
*is* the last activity, so nothing is written per request to track idleness).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, or_, select, update

from tokensmith.clock import iso_z, utc
from tokensmith.ids import new_row_id, random_token
from tokensmith.people.db import autocommit, transaction
from tokensmith.storage.models import Role, Session, Token, User

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

#: ``client_id`` of the access tokens of password sign-in and of personal user tokens (RFC 9068 requires
#: one; the colon keeps them apart from any registered client id).
LOGIN_CLIENT_ID = "tokensmith:login"
USER_TOKEN_CLIENT_ID = "tokensmith:user-token"

_S = Session.__table__
_T = Token.__table__
_U = User.__table__
_R = Role.__table__


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    session_id: str

    def body(self) -> dict[str, Any]:
        """The wire shape of ``/auth/login`` and ``/auth/refresh``."""
        return {"accessToken": self.access_token, "refreshToken": self.refresh_token,
                "expiresIn": f"{self.expires_in}s"}


def user_token_claims(uid: str, role: str, project_permissions: list[str] | tuple[str, ...]) -> dict[str, Any]:
    extra: dict[str, Any] = {"uid": uid, "role": role}
    if project_permissions:
        extra["project_permissions"] = list(project_permissions)
    return extra


async def issue_access_token(rt: Runtime, *, user_id: str, tenant_id: str, role: str, permissions: Any,
                             project_permissions: Any, session_id: str, fmt: str = "jwt",
                             ttl: int | None = None, client_id: str = LOGIN_CLIENT_ID, conn: Any = None) -> Any:
    """A user's access token: ``sub``/``uid`` = user id, ``tenant``, ``sid``, ``scope`` = the role's
    permissions, ``role`` and ``project_permissions``."""
    return await rt.issuer.issue(
        fmt=fmt, subject=user_id, client_id=client_id, tenant_id=tenant_id, scopes=list(permissions),
        ttl=ttl or rt.settings.login_access_token_ttl, session_id=session_id, user_id=user_id,
        extra=user_token_claims(user_id, role, project_permissions), conn=conn)


def refresh_token_row(rt: Runtime, value: str, *, tenant_id: str, user_id: str, session_id: str,
                      expires_at: datetime | None, parent_id: str | None = None, client_id: str | None = None,
                      scopes: list[str] | None = None, claims: dict[str, Any] | None = None) -> dict[str, Any]:
    """A refresh token's row; ``client_id``, ``scopes`` and ``claims`` only for the code flow's tokens."""
    return {"id": new_row_id(), "token_hash": rt.master.secret_hash(value), "kind": "refresh", "tenant_id": tenant_id,
            "client_id": client_id, "user_id": user_id, "session_id": session_id, "name": None,
            "scopes": list(scopes or []), "claims": dict(claims or {}), "parent_id": parent_id,
            "created_at": utc(rt.clock.now()), "expires_at": expires_at, "used_at": None, "last_used_at": None,
            "revoked_at": None}


async def start_login_session(rt: Runtime, account: Any, *, ip: str | None, user_agent: str | None,
                              method: str = "password") -> TokenPair:
    """A new sign-in session for ``account`` (a row with the columns of
    :data:`tokensmith.people.throttle.ACCOUNT_COLUMNS`), in one transaction: the account's failure series
    is reset, the session and its first refresh token are stored. Then the JWT access token is signed
    with the permissions of the account's role as they are now."""
    from tokensmith.people.throttle import reset_values

    now = rt.clock.now()
    sid = new_row_id()
    expires_at = utc(now + rt.settings.session_absolute_timeout)
    refresh = random_token(32)
    session_row = dict(id=sid, tenant_id=account.tenant_id, kind="login", user_id=account.id, client_id=None,
                       created_at=utc(now), last_seen_at=utc(now), expires_at=expires_at, revoked_at=None,
                       revoked_reason=None, ip=ip, user_agent=(user_agent or "")[:400] or None)
    token_row = refresh_token_row(rt, refresh, tenant_id=account.tenant_id, user_id=account.id, session_id=sid,
                                  expires_at=expires_at)
    role_name = getattr(account, "role", None)
    if role_name is not None and rt.db.dialect == "postgresql":
        # One statement (atomic on its own): reset the failure series, store the session and its token.
        reset = update(_U).where(_U.c.id == account.id).values(**reset_values(rt), updated_at=utc(now))
        statement = (_T.insert().values(**token_row)
                     .add_cte(reset.cte("reset")).add_cte(_S.insert().values(**session_row).cte("new_session")))
        async with autocommit(rt) as conn:
            await conn.execute(statement)
        permissions = account.role_permissions
    else:
        async with transaction(rt) as conn:
            await conn.execute(update(_U).where(_U.c.id == account.id).values(**reset_values(rt)))
            role = (await conn.execute(select(_R.c.name, _R.c.permissions)
                                       .where(_R.c.id == account.role_id))).one()
            await conn.execute(_S.insert().values(**session_row))
            await conn.execute(_T.insert().values(**token_row))
        role_name, permissions = role.name, role.permissions
    access = await issue_access_token(rt, user_id=account.id, tenant_id=account.tenant_id, role=role_name,
                                      permissions=permissions or [],
                                      project_permissions=account.project_permissions or [], session_id=sid)
    rt.audit.record("session.created", tenant_id=account.tenant_id, actor=f"user:{account.id}", subject=sid, ip=ip,
                    kind="login", method=method)
    return TokenPair(access.value, refresh, access.expires_in, sid)


def _feed_expiry(rt: Runtime, expires_at: datetime | None) -> float | None:
    """How long the ``sid`` revocation must be remembered: until the last token of the session expired."""
    if expires_at is None:
        return None
    return expires_at.timestamp() + max(rt.settings.login_access_token_ttl, rt.settings.user_token_access_ttl)


async def revoke_session(rt: Runtime, session_id: str, *, reason: str, actor: str | None = None,
                         tenant_id: str | None = None, ip: str | None = None,
                         request_id: str | None = None) -> bool:
    """Revoke a session and every token under it; False when it was already revoked (idempotent)."""
    now = utc(rt.clock.now())
    async with rt.db.session() as session:
        query = update(_S).where(_S.c.id == session_id, _S.c.revoked_at.is_(None))
        if tenant_id is not None:
            query = query.where(_S.c.tenant_id == tenant_id)
        done = (await session.execute(query.values(revoked_at=now, revoked_reason=reason[:100])
                                      .returning(_S.c.tenant_id, _S.c.expires_at, _S.c.kind, _S.c.user_id))).first()
        if done is None:
            return False
        await session.execute(update(_T).where(_T.c.session_id == session_id, _T.c.revoked_at.is_(None),
                                               _T.c.kind.in_(("refresh", "access", "user_token")))
                              .values(revoked_at=now))
        await rt.revocations.revoke(session, "sid", session_id, expires_at=_feed_expiry(rt, done.expires_at))
    rt.audit.record("session.revoked", tenant_id=done.tenant_id, actor=actor, subject=session_id, ip=ip,
                    request_id=request_id, reason=reason, kind=done.kind, user_id=done.user_id)
    if done.kind == "browser":  # the sessions bound to it (online_access grants of the code flow) end too
        async with rt.db.session() as session:
            children = list((await session.execute(select(_S.c.id).where(
                _S.c.parent_id == session_id, _S.c.revoked_at.is_(None)))).scalars())
        for child in children:
            await revoke_session(rt, child, reason=f"{reason[:60]} (parent session)", actor=actor, ip=ip,
                                 request_id=request_id)
    return True


async def revoke_user_sessions(rt: Runtime, user_id: str, *, reason: str, actor: str | None = None,
                               kinds: tuple[str, ...] = ("login",)) -> int:
    async with rt.db.session() as session:
        ids = list((await session.execute(select(_S.c.id).where(
            _S.c.user_id == user_id, _S.c.revoked_at.is_(None), _S.c.kind.in_(kinds)))).scalars())
    count = 0
    for sid in ids:
        count += await revoke_session(rt, sid, reason=reason, actor=actor)
    return count


@dataclass(frozen=True)
class SessionRecord:
    id: str
    tenant_id: str
    kind: str
    user_id: str | None
    client_id: str | None
    created_at: datetime | None
    last_seen_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    revoked_reason: str | None
    ip: str | None
    user_agent: str | None

    def view(self, current_sid: str | None = None) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "userId": self.user_id, "clientId": self.client_id,
                "createdAt": iso_z(self.created_at), "lastSeenAt": iso_z(self.last_seen_at),
                "expiresAt": iso_z(self.expires_at), "revokedAt": iso_z(self.revoked_at),
                "revokedReason": self.revoked_reason, "ip": self.ip, "userAgent": self.user_agent,
                "current": self.id == current_sid}


async def get_session(rt: Runtime, session_id: str) -> SessionRecord | None:
    async with rt.db.session() as session:
        row = (await session.execute(select(Session).where(Session.id == session_id))).scalar()
        return _record(row) if row is not None else None


def _record(row: Session) -> SessionRecord:
    return SessionRecord(id=row.id, tenant_id=row.tenant_id, kind=row.kind, user_id=row.user_id,
                         client_id=row.client_id, created_at=row.created_at, last_seen_at=row.last_seen_at,
                         expires_at=row.expires_at, revoked_at=row.revoked_at, revoked_reason=row.revoked_reason,
                         ip=row.ip, user_agent=row.user_agent)


async def list_sessions(rt: Runtime, tenant_id: str, *, user_id: str | None = None,
                        include_ended: bool = False) -> list[SessionRecord]:
    """Sessions of a tenant (of one user when ``user_id``), newest first; by default only live ones."""
    now = utc(rt.clock.now())
    query = select(Session).where(Session.tenant_id == tenant_id)
    if user_id is not None:
        query = query.where(Session.user_id == user_id)
    if not include_ended:
        query = query.where(Session.revoked_at.is_(None),
                            (Session.expires_at.is_(None)) | (Session.expires_at > now))
    async with rt.db.session() as session:
        rows = (await session.execute(query.order_by(Session.created_at.desc()).limit(1000))).scalars()
        records = [_record(r) for r in rows]
    if include_ended:
        return records
    # Sign-in sessions also end when idle; the newest refresh token tells when they were last used.
    login_ids = [r.id for r in records if r.kind == "login"]
    if not login_ids:
        return records
    idle_before = utc(rt.clock.now() - rt.settings.session_idle_timeout)
    async with rt.db.session() as session:
        live = set((await session.execute(select(_T.c.session_id).where(
            _T.c.session_id.in_(login_ids), _T.c.kind == "refresh", _T.c.used_at.is_(None),
            _T.c.revoked_at.is_(None), _T.c.created_at > idle_before))).scalars())
    return [r for r in records if r.kind != "login" or r.id in live]


async def purge_ended(rt: Runtime, *, older_than_days: int = 7) -> dict[str, int]:
    """Delete what sign-in leaves behind once it cannot matter any more: sign-in sessions that ended
    (revoked, expired or idle) more than ``older_than_days`` ago with their refresh tokens, used refresh
    tokens of live sessions older than the idle timeout plus that margin, and expired MFA step tokens.
    Reuse detection therefore reaches back at least ``session_idle_timeout + older_than_days``."""
    now = rt.clock.now()
    margin = older_than_days * 86400
    cutoff = utc(now - margin)
    stale = utc(now - rt.settings.session_idle_timeout - margin)
    ended = select(_S.c.id).where(_S.c.kind == "login", or_(_S.c.revoked_at < cutoff, _S.c.expires_at < cutoff))
    async with transaction(rt) as conn:
        tokens = (await conn.execute(_T.delete().where(_T.c.kind == "refresh", or_(
            _T.c.session_id.in_(ended), _T.c.created_at < stale)))).rowcount
        idle = select(_T.c.session_id).where(_T.c.kind == "refresh", _T.c.session_id.is_not(None)).scalar_subquery()
        sessions = (await conn.execute(_S.delete().where(_S.c.kind == "login", or_(
            _S.c.revoked_at < cutoff, _S.c.expires_at < cutoff,
            and_(_S.c.created_at < stale, _S.c.id.not_in(idle)))))).rowcount
        mfa = (await conn.execute(_T.delete().where(_T.c.kind == "mfa", _T.c.expires_at < cutoff))).rowcount
    rt.audit.record("sessions.purged", actor="system", sessions=sessions, refresh_tokens=tokens, mfa_tokens=mfa,
                    older_than_days=older_than_days)
    return {"sessions": sessions, "refreshTokens": tokens, "mfaTokens": mfa}
