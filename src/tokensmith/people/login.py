"""Sign-in for people (spec §D): ``/auth/login``, the TOTP step, ``/auth/refresh``, ``/auth/logout``.

The checks of a sign-in, in order:

1. ``check_ip_budget`` — reserve one failure from the client IP's budget (429 when spent).
2. ``find_account`` — the user by e-mail (one query, the same for known and unknown addresses).
3. ``reserve_attempt`` — reserve one attempt on the account, atomically (429 when locked).
4. ``verify_password`` — argon2id in a worker thread; unknown addresses are checked against a dummy
   hash, so both cases cost the same and answer the same 401 body.
5. ``check_account_usable`` — disabled users are refused (only after a correct password).
6. ``second_factor`` — with TOTP on, answer ``{"mfaRequired": true, "mfaToken"}`` instead of tokens.
7. ``start_session`` — a new session: refresh token (opaque, keyed hash stored) + JWT access token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from tokensmith.clock import utc
from tokensmith.errors import MessageError
from tokensmith.ids import new_id, random_token
from tokensmith.people.passwords import hash_password_async, needs_rehash, verify_password_async
from tokensmith.people.sessions import (
    TokenPair,
    issue_access_token,
    refresh_token_row,
    revoke_session,
    start_login_session,
)
from tokensmith.people.throttle import throttle
from tokensmith.people.totp import verify_second_factor
from tokensmith.people.users import UserRecord, normalise_email, user_record
from tokensmith.storage.models import Role, Session, Token, User

INVALID_CREDENTIALS = "Invalid email or password"
INVALID_REFRESH = "Invalid refresh token"
REFRESH_RACE = "Refresh token already used; use the token returned by the concurrent refresh"
INVALID_MFA_TOKEN = "Invalid or expired MFA token"
INVALID_CODE = "Invalid authentication code"
DISABLED = "This account is disabled"

_T = Token.__table__
_S = Session.__table__
_U = User.__table__
_R = Role.__table__


def _unauthorized(message: str) -> MessageError:
    return MessageError(message, status=401, code="unauthorized")


@dataclass(frozen=True)
class MfaChallenge:
    mfa_token: str
    expires_in: int

    def body(self) -> dict[str, Any]:
        return {"mfaRequired": True, "mfaToken": self.mfa_token, "expiresIn": f"{self.expires_in}s"}


@dataclass(frozen=True)
class Context:
    """Where a request comes from (for throttling and the audit log)."""

    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


async def _find_account(rt: Any, email: str) -> tuple[User, Role] | None:
    async with rt.db.session() as session:
        row = (await session.execute(
            select(User, Role).join(Role, Role.id == User.role_id).where(User.email == email))).first()
    return (row[0], row[1]) if row is not None else None


async def password_login(rt: Any, email: str, password: str, ctx: Context) -> TokenPair | MfaChallenge:
    guard = throttle(rt)
    email = normalise_email(email)
    await guard.reserve_ip(ctx.ip)
    account = await _find_account(rt, email)
    user, role = account if account is not None else (None, None)
    uid = user.id if user is not None else None
    try:
        attempt = await guard.reserve_account(uid, email)
    except Exception:
        await guard.release_ip(ctx.ip)
        rt.audit.record("login.throttled", tenant_id=user.tenant_id if user else None, subject=uid or email,
                        ip=ctx.ip, request_id=ctx.request_id, reason="account locked")
        raise
    stored_hash = user.password_hash if user is not None else None
    ok = await verify_password_async(stored_hash, password)
    if not ok:
        locked = await guard.failed(uid, email, attempt)
        rt.audit.record("login.failed", tenant_id=user.tenant_id if user else None, subject=uid or email,
                        ip=ctx.ip, request_id=ctx.request_id,
                        reason="wrong password" if user is not None else "unknown email", attempt=attempt)
        if locked:
            rt.audit.record("login.locked_out", tenant_id=user.tenant_id if user else None, subject=uid or email,
                            ip=ctx.ip, request_id=ctx.request_id, seconds=rt.settings.login_lockout_seconds)
        raise _unauthorized(INVALID_CREDENTIALS)
    assert user is not None and role is not None and stored_hash is not None
    await guard.release_ip(ctx.ip)
    if needs_rehash(stored_hash):
        await _rehash(rt, user.id, stored_hash, password)
    record = user_record(user, role)
    if not record.active:
        await guard.succeeded(user.id, login=False)
        rt.audit.record("login.failed", tenant_id=user.tenant_id, subject=uid, ip=ctx.ip,
                        request_id=ctx.request_id, reason="account disabled")
        raise MessageError(DISABLED, status=403, code="forbidden")
    if record.totp_enabled:
        await guard.give_back(user.id)
        return await _mfa_challenge(rt, record, ctx)
    await guard.succeeded(user.id)
    return await _signed_in(rt, record, ctx, "password")


async def _rehash(rt: Any, user_id: str, old_hash: str, password: str) -> None:
    """The stored hash was made with other argon2 parameters: store one with the current ones."""
    new_hash = await hash_password_async(password)
    async with rt.db.session() as session:
        await session.execute(update(_U).where(_U.c.id == user_id, _U.c.password_hash == old_hash)
                              .values(password_hash=new_hash))
    rt.audit.record("user.password_rehashed", subject=user_id)


async def _signed_in(rt: Any, record: UserRecord, ctx: Context, method: str) -> TokenPair:
    pair = await start_login_session(rt, record, ip=ctx.ip, user_agent=ctx.user_agent, method=method)
    rt.audit.record("login.succeeded", tenant_id=record.tenant_id, actor=f"user:{record.id}", subject=record.id,
                    ip=ctx.ip, request_id=ctx.request_id, session_id=pair.session_id, method=method)
    return pair


async def _mfa_challenge(rt: Any, record: UserRecord, ctx: Context) -> MfaChallenge:
    value = random_token(32)
    now = rt.clock.now()
    ttl = rt.settings.mfa_token_ttl
    async with rt.db.session() as session:
        await session.execute(_T.insert().values(
            id=new_id(), token_hash=rt.master.secret_hash(value), kind="mfa", tenant_id=record.tenant_id,
            client_id=None, user_id=record.id, session_id=None, name=None, scopes=[], claims={},
            parent_id=None, created_at=utc(now), expires_at=utc(now + ttl), used_at=None, last_used_at=None,
            revoked_at=None))
    rt.audit.record("login.mfa_required", tenant_id=record.tenant_id, subject=record.id, ip=ctx.ip,
                    request_id=ctx.request_id)
    return MfaChallenge(value, ttl)


async def totp_login(rt: Any, mfa_token: str, code: str, ctx: Context) -> TokenPair:
    """Second step: the ``mfaToken`` of the first step and a TOTP (or recovery) code. Wrong codes count
    towards the account's lockout like wrong passwords."""
    guard = throttle(rt)
    now = utc(rt.clock.now())
    digest = rt.master.secret_hash(mfa_token)
    async with rt.db.session() as session:
        row = (await session.execute(select(_T.c.id, _T.c.user_id, _T.c.tenant_id).where(
            _T.c.token_hash == digest, _T.c.kind == "mfa", _T.c.used_at.is_(None), _T.c.expires_at > now))).first()
    if row is None:
        raise _unauthorized(INVALID_MFA_TOKEN)
    await guard.reserve_ip(ctx.ip)
    try:
        attempt = await guard.reserve_account(row.user_id, "")
    except Exception:
        await guard.release_ip(ctx.ip)
        raise
    method = await verify_second_factor(rt, row.user_id, code)
    if method is None:
        locked = await guard.failed(row.user_id, "", attempt)
        rt.audit.record("login.failed", tenant_id=row.tenant_id, subject=row.user_id, ip=ctx.ip,
                        request_id=ctx.request_id, reason="wrong code", attempt=attempt)
        if locked:
            rt.audit.record("login.locked_out", tenant_id=row.tenant_id, subject=row.user_id, ip=ctx.ip,
                            request_id=ctx.request_id, seconds=rt.settings.login_lockout_seconds)
        raise _unauthorized(INVALID_CODE)
    await guard.release_ip(ctx.ip)
    async with rt.db.session() as session:
        consumed = await session.execute(update(_T).where(_T.c.id == row.id, _T.c.used_at.is_(None))
                                         .values(used_at=now))
        user_row = (await session.execute(
            select(User, Role).join(Role, Role.id == User.role_id).where(User.id == row.user_id))).first()
    if consumed.rowcount != 1 or user_row is None:
        raise _unauthorized(INVALID_MFA_TOKEN)
    record = user_record(user_row[0], user_row[1])
    if not record.active:
        raise MessageError(DISABLED, status=403, code="forbidden")
    await guard.succeeded(record.id)
    if method == "recovery_code":
        rt.audit.record("user.recovery_code_used", tenant_id=record.tenant_id, subject=record.id, ip=ctx.ip,
                        request_id=ctx.request_id)
    return await _signed_in(rt, record, ctx, f"password+{method}")


# ---- refresh -----------------------------------------------------------------------------------------

async def refresh(rt: Any, refresh_token: str, ctx: Context) -> TokenPair:
    """Rotate: the presented token is used up (a conditional UPDATE — exactly one of any number of
    concurrent requests wins) and a new one is issued in the same transaction."""
    now_s = rt.clock.now()
    now = utc(now_s)
    digest = rt.master.secret_hash(refresh_token)
    new_value = random_token(32)
    async with rt.db.session() as session:
        claimed = (await session.execute(
            update(_T).where(_T.c.token_hash == digest, _T.c.kind == "refresh", _T.c.used_at.is_(None),
                             _T.c.revoked_at.is_(None))
            .values(used_at=now)
            .returning(_T.c.id, _T.c.session_id, _T.c.user_id, _T.c.created_at, _T.c.expires_at))).first()
        if claimed is not None:
            ctx_row = (await session.execute(
                select(_S.c.kind, _S.c.revoked_at, _S.c.expires_at, _S.c.last_seen_at, _S.c.tenant_id,
                       _U.c.status, _U.c.project_permissions, _R.c.name, _R.c.permissions)
                .select_from(_S.join(_U, _U.c.id == _S.c.user_id).join(_R, _R.c.id == _U.c.role_id))
                .where(_S.c.id == claimed.session_id))).first()
            problem = _refresh_problem(rt, claimed, ctx_row, now_s)
            if problem is not None:
                # Roll back (the token stays unused); nothing to rotate.
                raise _RefreshRefused(problem)
            await session.execute(_T.insert().values(**refresh_token_row(
                rt, new_value, tenant_id=ctx_row.tenant_id, user_id=claimed.user_id,
                session_id=claimed.session_id, expires_at=ctx_row.expires_at, parent_id=claimed.id)))
            if ctx_row.last_seen_at is None or (now - ctx_row.last_seen_at).total_seconds() > 60:
                await session.execute(update(_S).where(_S.c.id == claimed.session_id).values(last_seen_at=now))
    if claimed is None:
        await _refused_refresh(rt, digest, now_s, ctx)
        raise AssertionError("unreachable")
    access = await issue_access_token(
        rt, user_id=claimed.user_id, tenant_id=ctx_row.tenant_id, role=ctx_row.name,
        permissions=ctx_row.permissions or [], project_permissions=ctx_row.project_permissions or [],
        session_id=claimed.session_id)
    rt.audit.record("session.refreshed", tenant_id=ctx_row.tenant_id, actor=f"user:{claimed.user_id}",
                    subject=claimed.session_id, ip=ctx.ip, request_id=ctx.request_id)
    return TokenPair(access.value, new_value, access.expires_in, claimed.session_id)


class _RefreshRefused(MessageError):
    def __init__(self, reason: str) -> None:
        super().__init__(INVALID_REFRESH, status=401, code="unauthorized", debug=reason)


def _refresh_problem(rt: Any, claimed: Any, ctx_row: Any, now: float) -> str | None:
    if ctx_row is None or ctx_row.kind != "login":
        return "not a sign-in session"
    if ctx_row.revoked_at is not None:
        return "session revoked"
    if ctx_row.expires_at is not None and ctx_row.expires_at.timestamp() <= now:
        return "session expired"
    if claimed.expires_at is not None and claimed.expires_at.timestamp() <= now:
        return "refresh token expired"
    if claimed.created_at.timestamp() + rt.settings.session_idle_timeout <= now:
        return "session idle too long"
    if ctx_row.status != "active":
        return "user disabled"
    return None


async def _refused_refresh(rt: Any, digest: str, now: float, ctx: Context) -> None:
    """The token was not claimable: unknown, revoked, or already used. Reuse within the grace period is
    a race between two refreshes of one client (409, the session lives); later it means the token was
    copied, and the whole session is revoked (OAuth 2.0 Security BCP, RFC 9700 §4.14.2)."""
    async with rt.db.session() as session:
        row = (await session.execute(
            select(_T.c.id, _T.c.session_id, _T.c.user_id, _T.c.tenant_id, _T.c.used_at, _T.c.revoked_at,
                   _S.c.kind, _S.c.revoked_at.label("session_revoked_at"))
            .select_from(_T.join(_S, _S.c.id == _T.c.session_id))
            .where(_T.c.token_hash == digest, _T.c.kind == "refresh"))).first()
    if row is None or row.kind != "login":
        raise _RefreshRefused("unknown refresh token")
    if row.revoked_at is not None or row.session_revoked_at is not None:
        raise _RefreshRefused("session revoked")
    assert row.used_at is not None
    since_use = now - row.used_at.timestamp()
    if since_use < rt.settings.refresh_reuse_grace:
        rt.audit.record("session.refresh_race", tenant_id=row.tenant_id, subject=row.session_id, ip=ctx.ip,
                        request_id=ctx.request_id, seconds_since_use=round(since_use, 3))
        raise MessageError(REFRESH_RACE, status=409, code="conflict")
    rt.audit.record("session.refresh_reuse_detected", tenant_id=row.tenant_id, subject=row.session_id,
                    actor=f"user:{row.user_id}", ip=ctx.ip, request_id=ctx.request_id,
                    seconds_since_use=round(since_use, 3))
    await revoke_session(rt, row.session_id, reason="refresh token reuse", actor="system", ip=ctx.ip,
                         request_id=ctx.request_id)
    raise _RefreshRefused("refresh token reused: session revoked")


async def logout(rt: Any, refresh_token: str, ctx: Context) -> None:
    """End the session the refresh token belongs to (used or not: it still names the session). Unknown
    tokens are ignored, so logout is idempotent."""
    digest = rt.master.secret_hash(refresh_token)
    async with rt.db.session() as session:
        row = (await session.execute(
            select(_T.c.session_id, _T.c.user_id, _S.c.kind)
            .select_from(_T.join(_S, _S.c.id == _T.c.session_id))
            .where(_T.c.token_hash == digest, _T.c.kind == "refresh"))).first()
    if row is None or row.kind != "login":
        return
    await revoke_session(rt, row.session_id, reason="logout", actor=f"user:{row.user_id}", ip=ctx.ip,
                         request_id=ctx.request_id)
