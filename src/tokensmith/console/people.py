"""Users and roles, the users seen through the session exchange (block/unblock), and the tenant's
sessions (list, filter, revoke). Permissions as in ``/users``, ``/exchange-users`` and ``/sessions``:
``User.read``/``User.write`` (nobody edits a user more powerful than themselves, nor themselves here),
``ExchangeUser.read``/``.write``, and other users' sessions need ``User.read``/``User.write``."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from tokensmith import permissions as perm
from tokensmith.console.common import (
    SignedIn,
    actor,
    checkbox,
    form_errors,
    lines,
    need,
    new_router,
    page,
    request_context,
    runtime_of,
    shown_error,
    when,
    whole_number,
)
from tokensmith.errors import Forbidden, NotFound, ServiceError
from tokensmith.exchange import users as exchange_users
from tokensmith.people import roles as role_service
from tokensmith.people import sessions as session_service
from tokensmith.people import users as user_service
from tokensmith.web.pages import see_other
from tokensmith.web.session import BrowserUser
from tokensmith.web.views import checked_form

router = new_router()
USER_FIELDS = {"email": "email", "password": "password", "role": "role", "name": "name"}
DONE = {"created": "The user is created.", "role": "The role is created.", "saved": "Changes saved.",
        "totp": "Two-factor authentication is reset.", "linked": "The user is linked to the directory.",
        "unlinked": "The user is no longer linked to the directory.",
        "blocked": "The user is blocked.", "unblocked": "The user is unblocked.", "revoked": "The session is revoked."}
PAGE_SIZE = 100


def _done(request: Request) -> str | None:
    return DONE.get(request.query_params.get("done", ""))


async def _users(request: Request, user: BrowserUser, *, errors: dict[str, str] | None = None,
                 values: dict[str, str] | None = None, status: int = 200) -> Response:
    rt = runtime_of(request)
    users = await user_service.list_users(rt, user.tenant_id)
    roles = await role_service.list_roles(rt, user.tenant_id) if user.allows(perm.ROLE_READ) else []
    rows = [{"id": u.id, "email": u.email, "name": u.name or "", "role": u.role, "status": u.status,
             "totp": u.totp_enabled, "last_login": when(u.last_login_at)} for u in users]
    return await page(request, user, "users.html", "users",
                      {"users": rows, "roles": roles, "errors": errors or {}, "values": values or {},
                       "message": _done(request)}, status=status)


@router.get("/users")
async def users(request: Request, user: SignedIn) -> Response:
    need(user, perm.USER_READ)
    return await _users(request, user)


@router.post("/users")
async def create_user(request: Request, user: SignedIn) -> Response:
    form = await checked_form(request)
    need(user, perm.USER_WRITE)
    try:
        await user_service.create_user(runtime_of(request), tenant_id=user.tenant_id, email=form.get("email"),
                                       password=form.get("password") or None, role=form.get("role") or "member",
                                       name=form.get("name") or None, granted=user.permissions, actor=actor(user))
    except ServiceError as exc:
        if not shown_error(exc):
            raise
        errors = form_errors(exc, USER_FIELDS)
        text = (exc.description or "").lower()
        if "_form" in errors and ("email" in text or "address" in text):
            errors = {"email": errors["_form"]}
        return await _users(request, user, errors=errors, status=exc.status,
                            values={k: v for k, v in form.fields.items() if k != "password"})
    return see_other("/console/users?done=created")


@router.post("/roles")
async def create_role(request: Request, user: SignedIn) -> Response:
    """A custom role: a named set of permissions, none beyond the creator's own."""
    form = await checked_form(request)
    need(user, perm.ROLE_WRITE)
    try:
        await role_service.create_role(runtime_of(request), tenant_id=user.tenant_id, name=form.get("role_name"),
                                       permissions=lines(form.get("permissions"), 500), granted=user.permissions,
                                       actor=actor(user))
    except ServiceError as exc:
        if not shown_error(exc):
            raise
        field = "role_name" if "name" in exc.description or "exists" in exc.description else "permissions"
        return await _users(request, user, errors={field: exc.description}, status=exc.status,
                            values={k: v for k, v in form.fields.items() if k in ("role_name", "permissions")})
    return see_other("/console/users?done=role")


async def user_page(request: Request, user: BrowserUser, user_id: str, *, errors: dict[str, str] | None = None,
                     status: int = 200) -> Response:
    rt = runtime_of(request)
    try:
        target = await user_service.get_user(rt, user_id, user.tenant_id)
    except NotFound:
        raise NotFound("user not found") from None
    roles = await role_service.list_roles(rt, user.tenant_id) if user.allows(perm.ROLE_READ) else []
    return await page(request, user, "user_detail.html", "users",
                      {"target": target, "roles": roles, "errors": errors or {}, "is_self": target.id == user.user_id,
                       "last_login": when(target.last_login_at), "message": _done(request)}, status=status)


@router.get("/users/{user_id}")
async def user_detail(user_id: str, request: Request, user: SignedIn) -> Response:
    need(user, perm.USER_READ)
    return await user_page(request, user, user_id)


@router.post("/users/{user_id}")
async def update_user(user_id: str, request: Request, user: SignedIn) -> Response:
    """One form per change (``action``: role, disable, enable, reset_totp); disabling and resetting the
    second factor need their confirmation box."""
    form = await checked_form(request)
    need(user, perm.USER_WRITE)
    action = form.get("action")
    if user_id == user.user_id and action in ("role", "disable"):
        raise Forbidden("You cannot disable yourself or change your own role.")
    changes: dict[str, Any] = {}
    if action == "role":
        changes["role"] = form.get("role")
    elif action in ("disable", "enable"):
        if action == "disable" and not checkbox(form.get("confirm")):
            return await user_page(request, user, user_id, errors={"confirm_disable": "Tick the box to confirm."},
                                    status=400)
        changes["status"] = "disabled" if action == "disable" else "active"
    elif action == "reset_totp":
        if not checkbox(form.get("confirm")):
            return await user_page(request, user, user_id, errors={"confirm_totp": "Tick the box to confirm."},
                                    status=400)
        changes["disable_totp"] = True
    else:
        return await user_page(request, user, user_id, errors={"_form": "Unknown action."}, status=400)
    try:
        await user_service.update_user(runtime_of(request), user_id, tenant_id=user.tenant_id,
                                       granted=user.permissions, actor=actor(user), **changes)
    except NotFound:
        raise NotFound("user not found") from None
    except ServiceError as exc:
        if not shown_error(exc):
            raise
        return await user_page(request, user, user_id, errors=form_errors(exc), status=exc.status)
    return see_other(f"/console/users/{user_id}?done={'totp' if action == 'reset_totp' else 'saved'}")


# ---- users seen through the session exchange ----

@router.get("/exchange-users")
async def list_exchange_users(request: Request, user: SignedIn) -> Response:
    need(user, perm.EXCHANGE_USER_READ)
    shown = request.query_params.get("blocked", "")
    blocked = {"yes": True, "no": False}.get(shown)
    offset = _offset(request.query_params.get("offset", "0"))
    rows = await exchange_users.list_exchange_users(runtime_of(request), user.tenant_id, blocked=blocked,
                                                    limit=PAGE_SIZE + 1, offset=offset)
    return await page(request, user, "exchange_users.html", "exchange",
                      {"rows": rows[:PAGE_SIZE], "more": len(rows) > PAGE_SIZE, "offset": offset, "shown": shown,
                       "page_size": PAGE_SIZE, "message": _done(request), "errors": {}})


def _offset(value: str) -> int:
    number = whole_number(value)
    return number if number is not None and number <= 1_000_000 else 0


@router.post("/exchange-users/block")
async def block_exchange_user(request: Request, user: SignedIn) -> Response:
    form = await checked_form(request)
    need(user, perm.EXCHANGE_USER_WRITE)
    blocked = form.get("action") != "unblock"
    context = request_context(request, user)
    try:
        await exchange_users.set_blocked(runtime_of(request), user.tenant_id, form.get("user_id"), blocked,
                                         actor=context["actor"], ip=context["ip"], request_id=context["request_id"])
    except ServiceError as exc:
        if not shown_error(exc):
            raise
        rows = await exchange_users.list_exchange_users(runtime_of(request), user.tenant_id, limit=PAGE_SIZE)
        return await page(request, user, "exchange_users.html", "exchange",
                          {"rows": rows, "more": False, "offset": 0, "shown": "", "page_size": PAGE_SIZE,
                           "errors": {"user_id": form_errors(exc).get("userId") or exc.description}},
                          status=exc.status)
    return see_other(f"/console/exchange-users?done={'blocked' if blocked else 'unblocked'}")


# ---- sessions across the tenant ----

@router.get("/sessions")
async def tenant_sessions(request: Request, user: SignedIn) -> Response:
    need(user, perm.SESSION_READ)
    need(user, perm.USER_READ)
    rt = runtime_of(request)
    kind = request.query_params.get("kind", "")[:20]
    email = request.query_params.get("user", "").strip()[:320]
    users = {u.id: u.email for u in await user_service.list_users(rt, user.tenant_id)}
    user_id = next((uid for uid, mail in users.items() if mail.casefold() == email.casefold()), None) if email else None
    records = [] if email and user_id is None else await session_service.list_sessions(rt, user.tenant_id,
                                                                                        user_id=user_id)
    rows = [{"id": s.id, "kind": s.kind, "who": users.get(s.user_id or "", s.user_id or s.client_id or "—"),
             "created": when(s.created_at), "expires": when(s.expires_at), "ip": s.ip or "—",
             "current": s.id == user.session_id}
            for s in records if not kind or s.kind == kind]
    return await page(request, user, "sessions.html", "sessions",
                      {"rows": rows, "kind": kind, "user_filter": email, "message": _done(request),
                       "kinds": ("browser", "login", "exchange", "user_token")})


@router.post("/sessions/{session_id}/revoke")
async def revoke_session(session_id: str, request: Request, user: SignedIn) -> Response:
    await checked_form(request)
    need(user, perm.SESSION_WRITE)
    rt = runtime_of(request)
    record = await session_service.get_session(rt, session_id)
    if record is None or record.tenant_id != user.tenant_id:
        raise NotFound("session not found")
    if record.user_id is None or record.user_id != user.user_id:
        need(user, perm.USER_WRITE)
    context = request_context(request, user)
    await session_service.revoke_session(rt, session_id, reason="revoked by " + context["actor"],
                                         actor=context["actor"], ip=context["ip"], request_id=context["request_id"])
    return see_other("/signin" if session_id == user.session_id else "/console/sessions?done=revoked")
