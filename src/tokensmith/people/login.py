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

Refresh-token rotation is in :mod:`tokensmith.people.refresh` (``refresh`` is re-exported here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from tokensmith.clock import utc
from tokensmith.emails import email_lookup_key
from tokensmith.errors import MessageError, RateLimited
from tokensmith.ids import new_id, random_token
from tokensmith.people.db import autocommit
from tokensmith.people.passwords import hash_password_async, needs_rehash, verify_password_async
from tokensmith.people.refresh import INVALID_REFRESH, REFRESH_RACE, refresh
from tokensmith.people.sessions import TokenPair, revoke_session, start_login_session
from tokensmith.people.totp import verify_second_factor
from tokensmith.storage.models import Session, Token, User

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

__all__ = ["INVALID_REFRESH", "REFRESH_RACE", "Context", "Verified", "check_password", "check_second_factor",
           "logout", "password_login", "record_signed_in", "refresh", "totp_login"]

INVALID_CREDENTIALS = "Invalid email or password"
INVALID_MFA_TOKEN = "Invalid or expired MFA token"
INVALID_CODE = "Invalid authentication code"
DISABLED = "This account is disabled"
TENANT_DISABLED = "This account's organisation is disabled"

_T = Token.__table__
_S = Session.__table__
_U = User.__table__


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


@dataclass(frozen=True)
class Verified:
    """A sign-in whose every factor was checked (password, and the second factor when the account has
    one): the account row (the columns of :data:`tokensmith.people.throttle.ACCOUNT_COLUMNS`) and how it
    signed in (``password``, ``password+totp``, ``password+recovery_code``). What becomes of it — an API
    session (``/auth/login``) or a browser session (``/signin``) — is the caller's choice; the checks,
    lockout and audit events are the same for both."""

    account: Any
    method: str


async def password_login(rt: Runtime, email: str, password: str, ctx: Context) -> TokenPair | MfaChallenge:
    result = await check_password(rt, email, password, ctx)
    if isinstance(result, MfaChallenge):
        return result
    return await _signed_in(rt, result.account, ctx, result.method)  # start_session


async def check_password(rt: Runtime, email: str, password: str, ctx: Context) -> Verified | MfaChallenge:
    """The first sign-in step (the checks of the module docstring up to the second factor): the verified
    account, or the challenge of its second factor."""
    guard = rt.login_throttle
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
    _refuse_disabled_tenant(rt, account, ctx)
    if account.totp_enabled:  # second_factor
        await guard.give_back(account.id)
        return await _mfa_challenge(rt, account, ctx)
    return Verified(account, "password")


async def _rehash(rt: Runtime, user_id: str, old_hash: str, password: str) -> None:
    """The stored hash was made with other argon2 parameters: store one with the current ones."""
    new_hash = await hash_password_async(password)
    async with autocommit(rt) as conn:
        await conn.execute(update(_U).where(_U.c.id == user_id, _U.c.password_hash == old_hash)
                           .values(password_hash=new_hash))
    rt.audit.record("user.password_rehashed", subject=user_id)


def _refuse_disabled_tenant(rt: Runtime, account: Any, ctx: Context) -> None:
    """Only after a correct password (like a disabled account), so the answer reveals nothing new."""
    if rt.tenants.is_disabled(account.tenant_id):
        rt.audit.record("login.failed", tenant_id=account.tenant_id, subject=account.id, ip=ctx.ip,
                        request_id=ctx.request_id, reason="tenant disabled")
        raise MessageError(TENANT_DISABLED, status=403, code="forbidden")


async def _signed_in(rt: Runtime, account: Any, ctx: Context, method: str) -> TokenPair:
    _refuse_disabled_tenant(rt, account, ctx)
    pair = await start_login_session(rt, account, ip=ctx.ip, user_agent=ctx.user_agent, method=method)
    record_signed_in(rt, Verified(account, method), ctx, pair.session_id)
    return pair


def record_signed_in(rt: Runtime, verified: Verified, ctx: Context, session_id: str, **extra: Any) -> None:
    """The audit event of a complete sign-in, once its session exists (any kind of session)."""
    account = verified.account
    rt.audit.record("login.succeeded", tenant_id=account.tenant_id, actor=f"user:{account.id}", subject=account.id,
                    ip=ctx.ip, request_id=ctx.request_id, session_id=session_id, method=verified.method, **extra)


async def _mfa_challenge(rt: Runtime, account: Any, ctx: Context) -> MfaChallenge:
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


async def totp_login(rt: Runtime, mfa_token: str, code: str, ctx: Context) -> TokenPair:
    """Second step of ``/auth/login``: the ``mfaToken`` of the first step and a TOTP (or recovery) code."""
    verified = await check_second_factor(rt, mfa_token, code, ctx)
    return await _signed_in(rt, verified.account, ctx, verified.method)


async def check_second_factor(rt: Runtime, mfa_token: str, code: str, ctx: Context) -> Verified:
    """The second sign-in step, whoever asks: the ``mfaToken`` of the first step and a TOTP (or recovery)
    code. Wrong codes count towards the account's lockout like wrong passwords."""
    guard = rt.login_throttle
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
    _refuse_disabled_tenant(rt, account, ctx)
    return Verified(account, f"password+{method}")


async def logout(rt: Runtime, refresh_token: str, ctx: Context) -> None:
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
