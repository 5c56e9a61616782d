"""The browser sign-in session: server-side, behind an ``HttpOnly``, ``SameSite=Lax`` cookie (``Secure``
outside development, ``__Host-`` named where the issuer is https).

A session is a ``sessions`` row of kind ``browser`` — its id is the ``sid`` of everything issued under
it, so revoking it (sign-out, an admin, ``DELETE /sessions/{id}``) reaches those tokens through the
revocation feed — and one ``tokens`` row of kind ``browser`` holding the keyed hash of the cookie's
random value (never the value), with the sign-in's ``amr``. It ends ``browser_session_absolute_timeout``
after the sign-in, or earlier after ``browser_session_idle_timeout`` without a request (``last_seen_at``
is written at most once a minute).

Pages that need a user depend on :func:`require_browser_user`: it yields a :class:`BrowserUser` or sends
the browser to ``/signin?next=<this page>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy import select, update
from starlette.requests import Request

from tokensmith.clock import utc
from tokensmith.errors import ServiceError
from tokensmith.ids import new_row_id, random_token
from tokensmith.people.db import autocommit, transaction
from tokensmith.people.login import Context, Verified, record_signed_in
from tokensmith.people.sessions import revoke_session
from tokensmith.people.throttle import reset_values
from tokensmith.scopes import covered_by_any
from tokensmith.storage.models import Role, Session, Token, User

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

SESSION_COOKIE = "tokensmith_session"
BROWSER = "browser"
_TOUCH = timedelta(seconds=60)
_S = Session.__table__
_T = Token.__table__
_U = User.__table__
_R = Role.__table__

#: RFC 8176 authentication method references of each sign-in method
AMR = {"password": ("pwd",), "password+totp": ("pwd", "otp", "mfa"), "password+recovery_code": ("pwd", "otp", "mfa")}


@dataclass(frozen=True)
class BrowserUser:
    """The signed-in user of a browser session, as pages and the authorization endpoint need it."""

    user_id: str
    tenant_id: str
    email: str
    name: str | None
    role: str
    permissions: tuple[str, ...]
    project_permissions: tuple[str, ...]
    session_id: str
    auth_time: int
    amr: tuple[str, ...]

    def allows(self, permission: str) -> bool:
        return covered_by_any(self.permissions, permission)


class SignInRequired(ServiceError):
    """A page needs a signed-in user: the browser is sent to the sign-in page (303), which comes back."""

    status = 303
    code = "sign_in_required"

    def __init__(self, next_path: str) -> None:
        super().__init__("sign-in required", headers={"Location": signin_url(next_path)})


def signin_url(next_path: str) -> str:
    return "/signin?next=" + quote(next_path, safe="")


def local_next(value: str | None, default: str = "/signin") -> str:
    """A ``next`` target limited to this site's paths: ``/x…`` but never ``//host`` or ``/\\host``
    (browsers read both as another host), no scheme, no control characters. Anything else → ``default``."""
    if not value or len(value) > 4000 or not value.startswith("/") or value.startswith(("//", "/\\")):
        return default
    if any(ord(ch) < 0x21 or ch == "\\" for ch in value):
        return default
    return value


async def start_browser_session(rt: Runtime, verified: Verified, ctx: Context) -> str:
    """A new browser session for a verified sign-in; returns the cookie value. The account's failure
    series is reset in the same transaction (a complete sign-in, as for ``/auth/login``)."""
    account = verified.account
    now = rt.clock.now()
    sid = new_row_id()
    value = random_token(32)
    expires_at = utc(now + rt.settings.browser_session_absolute_timeout)
    amr = list(AMR.get(verified.method, ("pwd",)))
    async with transaction(rt) as conn:
        await conn.execute(update(_U).where(_U.c.id == account.id).values(**reset_values(rt)))
        await conn.execute(_S.insert().values(
            id=sid, tenant_id=account.tenant_id, kind=BROWSER, user_id=account.id, client_id=None,
            created_at=utc(now), last_seen_at=utc(now), expires_at=expires_at, revoked_at=None,
            revoked_reason=None, ip=ctx.ip, user_agent=(ctx.user_agent or "")[:400] or None, parent_id=None))
        await conn.execute(_T.insert().values(
            id=new_row_id(), token_hash=rt.master.secret_hash(value), kind=BROWSER, tenant_id=account.tenant_id,
            client_id=None, user_id=account.id, session_id=sid, name=None, scopes=[],
            claims={"amr": amr, "auth_time": int(now)}, parent_id=None, created_at=utc(now),
            expires_at=expires_at, used_at=None, last_used_at=None, revoked_at=None))
    rt.audit.record("session.created", tenant_id=account.tenant_id, actor=f"user:{account.id}", subject=sid,
                    ip=ctx.ip, kind=BROWSER, method=verified.method)
    record_signed_in(rt, verified, ctx, sid, channel="browser")
    return value


async def load_browser_user(rt: Runtime, cookie_value: str) -> BrowserUser | None:
    """The user of a live session (not revoked, not past its absolute or idle expiry, user active,
    tenant enabled), or None."""
    now = rt.clock.now()
    at = utc(now)
    idle_before = utc(now - rt.settings.browser_session_idle_timeout)
    query = (select(_S.c.id, _S.c.last_seen_at, _T.c.claims, _U.c.id.label("user_id"), _U.c.tenant_id, _U.c.email,
                    _U.c.name, _U.c.project_permissions, _R.c.name.label("role"), _R.c.permissions)
             .select_from(_T.join(_S, _S.c.id == _T.c.session_id).join(_U, _U.c.id == _S.c.user_id)
                          .join(_R, _R.c.id == _U.c.role_id))
             .where(_T.c.token_hash == rt.master.secret_hash(cookie_value), _T.c.kind == BROWSER,
                    _T.c.revoked_at.is_(None), _S.c.kind == BROWSER, _S.c.revoked_at.is_(None),
                    _S.c.expires_at > at, _S.c.last_seen_at > idle_before, _U.c.status == "active"))
    async with autocommit(rt) as conn:
        row = (await conn.execute(query)).first()
        if row is None or rt.tenants.is_disabled(row.tenant_id):
            return None
        if now - row.last_seen_at.timestamp() > _TOUCH.total_seconds():
            await conn.execute(update(_S).where(_S.c.id == row.id).values(last_seen_at=at))
    claims: dict[str, Any] = dict(row.claims or {})
    return BrowserUser(user_id=row.user_id, tenant_id=row.tenant_id, email=row.email, name=row.name,
                       role=row.role, permissions=tuple(row.permissions or ()),
                       project_permissions=tuple(row.project_permissions or ()), session_id=row.id,
                       auth_time=int(claims.get("auth_time", 0)), amr=tuple(claims.get("amr", ("pwd",))))


async def end_browser_session(rt: Runtime, user: BrowserUser, ctx: Context) -> None:
    """Sign-out: the session and everything bound to it (``online_access`` grants) are revoked."""
    await revoke_session(rt, user.session_id, reason="signout", actor=f"user:{user.user_id}", ip=ctx.ip,
                         request_id=ctx.request_id)


async def current_browser_user(request: Request) -> BrowserUser | None:
    """The request's signed-in user (looked up once per request), or None."""
    from tokensmith.web.forms import read_cookie

    cached = request.scope.get("tokensmith.browser_user", False)
    if cached is not False:
        return cached  # type: ignore[no-any-return]  # set below, a BrowserUser or None
    rt: Runtime = request.app.state.runtime
    value = read_cookie(request, rt.settings, SESSION_COOKIE)
    user = await load_browser_user(rt, value) if value else None
    request.scope["tokensmith.browser_user"] = user
    return user


async def require_browser_user(request: Request) -> BrowserUser:
    """FastAPI dependency for pages that need a user: the signed-in :class:`BrowserUser`, or a 303 to
    ``/signin?next=<this page>`` (GET pages only come back; a POST's target is its form's page)."""
    user = await current_browser_user(request)
    if user is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(local_next(path if request.method == "GET" else "/signin"))
    return user
