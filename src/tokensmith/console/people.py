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
    NOT_CONFIRMED,
    Confirmation,
    SignedIn,
    actor,
    checkbox,
    confirm_page,
    confirmed,
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
from tokensmith.ids import random_token
from tokensmith.people import roles as role_service
from tokensmith.people import sessions as session_service
from tokensmith.people import users as user_service
from tokensmith.people.sessions import SessionRecord
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
    """The product has no invitation (nothing sends e-mail): the user gets the password typed here or,
    left empty, a generated one shown once on the next page, to hand over by a safe channel."""
    form = await checked_form(request)
    need(user, perm.USER_WRITE)
    rt = runtime_of(request)
    generated = None if form.get("password") else random_token(max(18, rt.settings.password_min_length))
    try:
        created = await user_service.create_user(
            rt, tenant_id=user.tenant_id, email=form.get("email"), password=form.get("password") or generated,
            role=form.get("role") or "member", name=form.get("name") or None, granted=user.permissions,
            actor=actor(user))
    except ServiceError as exc:
        if not shown_error(exc):
            raise
        errors = form_errors(exc, USER_FIELDS)
        text = (exc.description or "").lower()
        if "_form" in errors and ("email" in text or "address" in text):
            errors = {"email": errors["_form"]}
        return await _users(request, user, errors=errors, status=exc.status,
                            values={k: v for k, v in form.fields.items() if k != "password"})
    if generated is None:
        return see_other("/console/users?done=created")
    return await page(request, user, "user_created.html", "users",
                      {"created": created, "password": generated,
                       "signin_url": rt.settings.issuer.rstrip("/") + "/signin"}, scripts=True)


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


def _block_confirmation(user_id: str) -> Confirmation:
    return Confirmation(
        title="Block a user of the session exchange?",
        explanation="The backends' API keys get no more session tokens for this user_id, and the tokens the "
                    "user holds now stop working within a second. Unblocking later allows them again.",
        action="/console/exchange-users/block", check="Yes, block this user", button="Block the user",
        cancel="/console/exchange-users", fields={"action": "block"},
        ask=("user_id", "user_id (as the backend sends it)", user_id))


@router.get("/exchange-users/block")
async def confirm_block(request: Request, user: SignedIn) -> Response:
    """The confirmation of a block, for a listed user (``?user_id=``) or one typed in, in advance."""
    need(user, perm.EXCHANGE_USER_WRITE)
    user_id = request.query_params.get("user_id", "")[:200]
    return await confirm_page(request, user, "exchange", _block_confirmation(user_id))


@router.post("/exchange-users/block")
async def block_exchange_user(request: Request, user: SignedIn) -> Response:
    form = await checked_form(request)
    need(user, perm.EXCHANGE_USER_WRITE)
    blocked = form.get("action") != "unblock"
    if blocked and not confirmed(form.fields):
        return await confirm_page(request, user, "exchange", _block_confirmation(form.get("user_id")),
                                  error=NOT_CONFIRMED, status=400)
    context = request_context(request, user)
    try:
        await exchange_users.set_blocked(runtime_of(request), user.tenant_id, form.get("user_id"), blocked,
                                         actor=context["actor"], ip=context["ip"], request_id=context["request_id"])
    except ServiceError as exc:
        if not shown_error(exc):
            raise
        error = form_errors(exc).get("userId") or exc.description
        if blocked:
            return await confirm_page(request, user, "exchange", _block_confirmation(form.get("user_id")),
                                      errors={"user_id": error}, status=exc.status)
        rows = await exchange_users.list_exchange_users(runtime_of(request), user.tenant_id, limit=PAGE_SIZE)
        return await page(request, user, "exchange_users.html", "exchange",
                          {"rows": rows, "more": False, "offset": 0, "shown": "", "page_size": PAGE_SIZE,
                           "message": error}, status=exc.status)
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


async def _tenant_session(request: Request, user: BrowserUser, session_id: str) -> SessionRecord:
    """A session of the user's tenant that they may revoke: their own with ``Session.write``, anybody's
    with ``User.write`` too."""
    need(user, perm.SESSION_WRITE)
    record = await session_service.get_session(runtime_of(request), session_id)
    if record is None or record.tenant_id != user.tenant_id:
        raise NotFound("session not found")
    if record.user_id is None or record.user_id != user.user_id:
        need(user, perm.USER_WRITE)
    return record


async def revoke_confirmation(request: Request, record: SessionRecord, action: str, cancel: str) -> Confirmation:
    who = record.user_id or record.client_id or "?"
    if record.user_id:
        try:
            who = (await user_service.get_user(runtime_of(request), record.user_id, record.tenant_id)).email
        except NotFound:
            pass
    return Confirmation(
        title="Revoke this session?",
        explanation=f"The {record.kind} session of {who}, started {when(record.created_at)} from "
                    f"{record.ip or 'an unknown address'}, ends at once: its refresh token and the access "
                    "tokens issued in it stop working, and a browser using it is signed out.",
        action=action, check="Yes, revoke this session", button="Revoke the session", cancel=cancel)


@router.get("/sessions/{session_id}/revoke")
async def confirm_revoke_session(session_id: str, request: Request, user: SignedIn) -> Response:
    record = await _tenant_session(request, user, session_id)
    path = f"/console/sessions/{session_id}/revoke"
    return await confirm_page(request, user, "sessions",
                              await revoke_confirmation(request, record, path, "/console/sessions"))


@router.post("/sessions/{session_id}/revoke")
async def revoke_session(session_id: str, request: Request, user: SignedIn) -> Response:
    form = await checked_form(request)
    record = await _tenant_session(request, user, session_id)
    if not confirmed(form.fields):
        path = f"/console/sessions/{session_id}/revoke"
        return await confirm_page(request, user, "sessions",
                                  await revoke_confirmation(request, record, path, "/console/sessions"),
                                  error=NOT_CONFIRMED, status=400)
    context = request_context(request, user)
    await session_service.revoke_session(runtime_of(request), session_id, reason="revoked by " + context["actor"],
                                         actor=context["actor"], ip=context["ip"], request_id=context["request_id"])
    return see_other("/signin" if session_id == user.session_id else "/console/sessions?done=revoked")
