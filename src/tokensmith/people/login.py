"""Sign-in for people (spec §D): ``/auth/login``, the TOTP step, ``/auth/refresh``, ``/auth/logout``.

The checks of a sign-in, in order:

1. ``check_ip_budget`` — reserve one failure from the client IP's budget (429 when spent).
2. ``find_account`` + ``reserve_attempt`` — one conditional ``UPDATE … RETURNING`` finds the account by
   e-mail and reserves one attempt on it, atomically (429 when locked); unknown addresses are counted
   and locked out alike (:mod:`tokensmith.people.throttle`).
3. ``verify_password`` — argon2id in a worker thread; unknown addresses are checked against a dummy
   hash, so both cases cost the same and answer the same 401 body.
4. ``check_account_usable`` — disabled users are refused (only after a correct password).
5. ``second_factor`` — with TOTP on, answer ``{"mfaRequired": true, "mfaToken"}`` instead of tokens.
6. ``start_session`` — a new session: refresh token (opaque, keyed hash stored) + JWT access token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, String, bindparam, column, or_, select, text, update

from tokensmith.clock import utc
from tokensmith.emails import email_lookup_key
from tokensmith.errors import MessageError, RateLimited
from tokensmith.ids import new_id, random_token
from tokensmith.people.db import autocommit, transaction
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
from tokensmith.storage.batching import batcher, retry_deadlocks
from tokensmith.storage.models import Role, Session, Token, User, UTCDateTime

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


async def password_login(rt: Any, email: str, password: str, ctx: Context) -> TokenPair | MfaChallenge:
    guard = throttle(rt)
    email = email_lookup_key(email)
    await guard.reserve_ip(ctx.ip)  # check_ip_budget
    try:
        account, attempt = await guard.reserve_account(email=email)  # find_account + reserve_attempt
    except RateLimited:
        await guard.release_ip(ctx.ip)
        rt.audit.record("login.throttled", subject=email, ip=ctx.ip, request_id=ctx.request_id,
                        reason="account locked")
        raise
    uid = account.id if account is not None else None
    tenant_id = account.tenant_id if account is not None else None
    stored_hash = account.password_hash if account is not None else None
    if not await verify_password_async(stored_hash, password):  # verify_password
        locked = await guard.failed(uid, email, attempt)
        rt.audit.record("login.failed", tenant_id=tenant_id, subject=uid or email, ip=ctx.ip,
                        request_id=ctx.request_id,
                        reason="wrong password" if account is not None else "unknown email", attempt=attempt)
        if locked:
            rt.audit.record("login.locked_out", tenant_id=tenant_id, subject=uid or email, ip=ctx.ip,
                            request_id=ctx.request_id, seconds=rt.settings.login_lockout_seconds)
        raise _unauthorized(INVALID_CREDENTIALS)
    assert account is not None and stored_hash is not None
    await guard.release_ip(ctx.ip)
    if needs_rehash(stored_hash):
        await _rehash(rt, account.id, stored_hash, password)
    if account.status != "active":  # check_account_usable
        await guard.succeeded(account.id, login=False)
        rt.audit.record("login.failed", tenant_id=tenant_id, subject=uid, ip=ctx.ip, request_id=ctx.request_id,
                        reason="account disabled")
        raise MessageError(DISABLED, status=403, code="forbidden")
    if account.totp_enabled:  # second_factor
        await guard.give_back(account.id)
        return await _mfa_challenge(rt, account, ctx)
    return await _signed_in(rt, account, ctx, "password")  # start_session


async def _rehash(rt: Any, user_id: str, old_hash: str, password: str) -> None:
    """The stored hash was made with other argon2 parameters: store one with the current ones."""
    new_hash = await hash_password_async(password)
    async with autocommit(rt) as conn:
        await conn.execute(update(_U).where(_U.c.id == user_id, _U.c.password_hash == old_hash)
                           .values(password_hash=new_hash))
    rt.audit.record("user.password_rehashed", subject=user_id)


async def _signed_in(rt: Any, account: Any, ctx: Context, method: str) -> TokenPair:
    pair = await start_login_session(rt, account, ip=ctx.ip, user_agent=ctx.user_agent, method=method)
    rt.audit.record("login.succeeded", tenant_id=account.tenant_id, actor=f"user:{account.id}", subject=account.id,
                    ip=ctx.ip, request_id=ctx.request_id, session_id=pair.session_id, method=method)
    return pair


async def _mfa_challenge(rt: Any, account: Any, ctx: Context) -> MfaChallenge:
    value = random_token(32)
    now = rt.clock.now()
    ttl = rt.settings.mfa_token_ttl
    async with autocommit(rt) as conn:
        await conn.execute(_T.insert().values(
            id=new_id(), token_hash=rt.master.secret_hash(value), kind="mfa", tenant_id=account.tenant_id,
            client_id=None, user_id=account.id, session_id=None, name=None, scopes=[], claims={},
            parent_id=None, created_at=utc(now), expires_at=utc(now + ttl), used_at=None, last_used_at=None,
            revoked_at=None))
    rt.audit.record("login.mfa_required", tenant_id=account.tenant_id, subject=account.id, ip=ctx.ip,
                    request_id=ctx.request_id)
    return MfaChallenge(value, ttl)


async def totp_login(rt: Any, mfa_token: str, code: str, ctx: Context) -> TokenPair:
    """Second step: the ``mfaToken`` of the first step and a TOTP (or recovery) code. Wrong codes count
    towards the account's lockout like wrong passwords."""
    guard = throttle(rt)
    now = utc(rt.clock.now())
    digest = rt.master.secret_hash(mfa_token)
    async with autocommit(rt) as conn:
        row = (await conn.execute(select(_T.c.id, _T.c.user_id, _T.c.tenant_id).where(
            _T.c.token_hash == digest, _T.c.kind == "mfa", _T.c.used_at.is_(None), _T.c.expires_at > now))).first()
    if row is None:
        raise _unauthorized(INVALID_MFA_TOKEN)
    await guard.reserve_ip(ctx.ip)
    try:
        account, attempt = await guard.reserve_account(user_id=row.user_id)
    except RateLimited:
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
    async with autocommit(rt) as conn:
        consumed = await conn.execute(update(_T).where(_T.c.id == row.id, _T.c.used_at.is_(None))
                                      .values(used_at=now))
    if consumed.rowcount != 1:
        raise _unauthorized(INVALID_MFA_TOKEN)
    if account.status != "active":
        await guard.succeeded(account.id, login=False)
        raise MessageError(DISABLED, status=403, code="forbidden")
    if method == "recovery_code":
        rt.audit.record("user.recovery_code_used", tenant_id=row.tenant_id, subject=row.user_id, ip=ctx.ip,
                        request_id=ctx.request_id)
    return await _signed_in(rt, account, ctx, f"password+{method}")


# ---- refresh -----------------------------------------------------------------------------------------
#
# Rotation uses up the presented token with a conditional UPDATE (``… AND used_at IS NULL``): of any
# number of concurrent requests with one token exactly one changes the row, on SQLite (the write lock)
# and PostgreSQL (the row lock, then the condition is evaluated again on the committed row). The UPDATE
# also checks everything else (session live, not idle, user active), so a refused token stays unused.

#: PostgreSQL: claim, check and rotate a whole batch of refresh tokens in one statement (atomic on its
#: own). The materialised ``found`` makes the token-hash index drive the plan whatever the statistics say
#: (left alone, a planner that believes ``sessions`` tiny scans every live session). The UPDATE checks
#: ``used_at IS NULL`` again on the locked row, so a token used meanwhile is not claimed twice; a token
#: presented twice in one batch joins twice but its row is updated once: one request wins.
_ROTATE_PG = text("""
WITH req AS MATERIALIZED (
    SELECT * FROM unnest(CAST(:digests AS varchar[]), CAST(:new_ids AS varchar[]), CAST(:new_hashes AS varchar[]))
        AS req(digest, new_id, new_hash)
), found AS MATERIALIZED (
    SELECT req.digest, req.new_id, req.new_hash, t.id, t.session_id, t.user_id
    FROM req JOIN tokens AS t ON t.token_hash = req.digest
    WHERE t.kind = 'refresh' AND t.used_at IS NULL AND t.revoked_at IS NULL
      AND (t.expires_at IS NULL OR t.expires_at > :now) AND t.created_at > :idle_before
), claimed AS (
    UPDATE tokens AS t SET used_at = :now
    FROM found AS f, sessions AS s, users AS u, roles AS r
    WHERE t.id = f.id AND t.used_at IS NULL AND t.revoked_at IS NULL
      AND s.id = f.session_id AND s.kind = 'login' AND s.revoked_at IS NULL
      AND (s.expires_at IS NULL OR s.expires_at > :now)
      AND u.id = f.user_id AND u.status = 'active' AND r.id = u.role_id
    RETURNING f.digest, f.new_id, f.new_hash, t.id, t.session_id, t.user_id, t.tenant_id,
              s.expires_at AS session_expires_at, s.last_seen_at, u.project_permissions, r.name AS role,
              r.permissions
), rotated AS (
    INSERT INTO tokens (id, token_hash, kind, tenant_id, client_id, user_id, session_id, name, scopes, claims,
                        parent_id, created_at, expires_at, used_at, last_used_at, revoked_at)
    SELECT new_id, new_hash, 'refresh', tenant_id, NULL, user_id, session_id, NULL, '[]'::json, '{}'::json,
           id, :now, session_expires_at, NULL, NULL, NULL
    FROM claimed
), touched AS (
    UPDATE sessions SET last_seen_at = :now
    WHERE id IN (SELECT session_id FROM claimed WHERE last_seen_at IS NULL OR last_seen_at < :touch_before)
)
SELECT * FROM claimed
""").bindparams(bindparam("now", type_=UTCDateTime), bindparam("idle_before", type_=UTCDateTime),
                bindparam("touch_before", type_=UTCDateTime)).columns(
    column("digest", String), column("new_id", String), column("new_hash", String), column("id", String),
    column("session_id", String), column("user_id", String), column("tenant_id", String),
    column("session_expires_at", UTCDateTime), column("last_seen_at", UTCDateTime),
    column("project_permissions", JSON), column("role", String), column("permissions", JSON))

_SESSION_TOUCH = timedelta(seconds=60)


async def refresh(rt: Any, refresh_token: str, ctx: Context) -> TokenPair:
    """Rotate: the presented token is used up and a new one issued for the same session, atomically."""
    digest = rt.master.secret_hash(refresh_token)
    new_value = random_token(32)
    new_row = refresh_token_row(rt, new_value, tenant_id="", user_id="", session_id="", expires_at=None)
    if rt.db.dialect == "postgresql":
        rotated = await batcher(rt, "refresh", lambda items: _rotate_batch_pg(rt, items)).submit(
            (digest, new_row["id"], new_row["token_hash"]))
    else:
        rotated = await batcher(rt, "refresh", lambda items: _rotate_batch_portable(rt, items)).submit(
            (digest, new_row))
    if rotated is None:
        await _refused_refresh(rt, digest, utc(rt.clock.now()), ctx)
        raise AssertionError("unreachable")
    access = await issue_access_token(
        rt, user_id=rotated.user_id, tenant_id=rotated.tenant_id, role=rotated.role,
        permissions=rotated.permissions or [], project_permissions=rotated.project_permissions or [],
        session_id=rotated.session_id)
    rt.audit.record("session.refreshed", tenant_id=rotated.tenant_id, actor=f"user:{rotated.user_id}",
                    subject=rotated.session_id, ip=ctx.ip, request_id=ctx.request_id)
    return TokenPair(access.value, new_value, access.expires_in, rotated.session_id)


async def _rotate_batch_pg(rt: Any, items: list[tuple[str, str, str]]) -> list[Any]:
    now = utc(rt.clock.now())
    params = {
        "digests": [i[0] for i in items], "new_ids": [i[1] for i in items], "new_hashes": [i[2] for i in items],
        "now": now, "idle_before": now - timedelta(seconds=rt.settings.session_idle_timeout),
        "touch_before": now - _SESSION_TOUCH,
    }

    async def run() -> list[Any]:
        async with autocommit(rt) as conn:
            return list((await conn.execute(_ROTATE_PG, params)).all())

    won = {(row.digest, row.new_id): row for row in await retry_deadlocks(run)}
    return [won.get((digest, new_id)) for digest, new_id, _ in items]


async def _rotate_batch_portable(rt: Any, items: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """The same for a group of tokens in one transaction (SQLite cannot return joined columns from an
    UPDATE, so three statements per token); the UPDATE comes first, so SQLite's write lock is held before
    anything is read, and the whole group costs one lock and one commit."""
    now = utc(rt.clock.now())
    async with transaction(rt) as conn:
        return [await _rotate_portable(rt, conn, now, digest, new_row) for digest, new_row in items]


async def _rotate_portable(rt: Any, conn: Any, now: datetime, digest: str, new_row: dict[str, Any]) -> Any:
    idle_before = now - timedelta(seconds=rt.settings.session_idle_timeout)
    valid_session = (select(_S.c.id).join(_U, _U.c.id == _S.c.user_id)
                     .where(_S.c.id == _T.c.session_id, _S.c.kind == "login", _S.c.revoked_at.is_(None),
                            or_(_S.c.expires_at.is_(None), _S.c.expires_at > now), _U.c.status == "active")
                     .exists())
    claimed = (await conn.execute(
        update(_T).where(_T.c.token_hash == digest, _T.c.kind == "refresh", _T.c.used_at.is_(None),
                         _T.c.revoked_at.is_(None), or_(_T.c.expires_at.is_(None), _T.c.expires_at > now),
                         _T.c.created_at > idle_before, valid_session)
        .values(used_at=now)
        .returning(_T.c.id, _T.c.session_id, _T.c.user_id, _T.c.tenant_id))).first()
    if claimed is None:
        return None
    ctx_row = (await conn.execute(
        select(_S.c.expires_at, _S.c.last_seen_at, _U.c.project_permissions, _R.c.name, _R.c.permissions)
        .select_from(_S.join(_U, _U.c.id == _S.c.user_id).join(_R, _R.c.id == _U.c.role_id))
        .where(_S.c.id == claimed.session_id))).one()
    await conn.execute(_T.insert().values(**{
        **new_row, "tenant_id": claimed.tenant_id, "user_id": claimed.user_id,
        "session_id": claimed.session_id, "expires_at": ctx_row.expires_at, "parent_id": claimed.id}))
    if ctx_row.last_seen_at is None or now - ctx_row.last_seen_at > _SESSION_TOUCH:
        await conn.execute(update(_S).where(_S.c.id == claimed.session_id).values(last_seen_at=now))
    return _Rotated(claimed.id, claimed.session_id, claimed.user_id, claimed.tenant_id, ctx_row.name,
                    ctx_row.permissions, ctx_row.project_permissions)


@dataclass(frozen=True)
class _Rotated:
    id: str
    session_id: str
    user_id: str
    tenant_id: str
    role: str
    permissions: list[str]
    project_permissions: list[str]


class _RefreshRefused(MessageError):
    def __init__(self, reason: str) -> None:
        super().__init__(INVALID_REFRESH, status=401, code="unauthorized", debug=reason)


async def _refused_refresh(rt: Any, digest: str, now: datetime, ctx: Context) -> None:
    """The token could not be rotated: find out why. Reuse within the grace period is a race between
    two refreshes of one client (409, the session lives); later it means the token was copied, and the
    whole session is revoked (OAuth 2.0 Security BCP, RFC 9700 §4.14.2)."""
    async with autocommit(rt) as conn:
        row = (await conn.execute(
            select(_T.c.id, _T.c.session_id, _T.c.user_id, _T.c.tenant_id, _T.c.used_at, _T.c.revoked_at,
                   _T.c.created_at, _T.c.expires_at, _S.c.kind, _S.c.revoked_at.label("session_revoked_at"),
                   _S.c.expires_at.label("session_expires_at"), _U.c.status)
            .select_from(_T.join(_S, _S.c.id == _T.c.session_id).join(_U, _U.c.id == _T.c.user_id))
            .where(_T.c.token_hash == digest, _T.c.kind == "refresh"))).first()
    if row is None or row.kind != "login":
        raise _RefreshRefused("unknown refresh token")
    if row.revoked_at is not None or row.session_revoked_at is not None:
        raise _RefreshRefused("session revoked")
    if row.used_at is None:
        if row.status != "active":
            raise _RefreshRefused("user disabled")
        if row.session_expires_at is not None and row.session_expires_at <= now:
            raise _RefreshRefused("session expired")
        if row.created_at + timedelta(seconds=rt.settings.session_idle_timeout) <= now:
            raise _RefreshRefused("session idle too long")
        raise _RefreshRefused("refresh token expired")
    since_use = (now - row.used_at).total_seconds()
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
    async with autocommit(rt) as conn:
        row = (await conn.execute(
            select(_T.c.session_id, _T.c.user_id, _S.c.kind)
            .select_from(_T.join(_S, _S.c.id == _T.c.session_id))
            .where(_T.c.token_hash == digest, _T.c.kind == "refresh"))).first()
    if row is None or row.kind != "login":
        return
    await revoke_session(rt, row.session_id, reason="logout", actor=f"user:{row.user_id}", ip=ctx.ip,
                         request_id=ctx.request_id)
