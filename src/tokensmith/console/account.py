"""My account: change password, enable two-factor authentication (the ``otpauth://`` QR code drawn on the
server as SVG with segno; the recovery codes shown once), personal user tokens (spec C: create — shown
once —, list, revoke) and my sessions (revoke). The services are those of ``/users/me``, ``/auth/totp``,
``/user-tokens`` and ``/sessions``, with the same permissions (``UserToken.*``, ``Session.*``)."""

from __future__ import annotations

from typing import Any

import segno
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from tokensmith import permissions as perm
from tokensmith.console.common import (
    NOT_CONFIRMED,
    SignedIn,
    actor,
    checkbox,
    confirm_page,
    confirmed,
    form_errors,
    need,
    new_router,
    page,
    request_context,
    runtime_of,
    shown_error,
    when,
)
from tokensmith.console.people import revoke_confirmation
from tokensmith.errors import NotFound, ServiceError
from tokensmith.http.deps import ip_of, request_id
from tokensmith.people import sessions as session_service
from tokensmith.people import totp
from tokensmith.people import user_tokens as token_service
from tokensmith.people import users as user_service
from tokensmith.people.sessions import SessionRecord
from tokensmith.web.pages import see_other
from tokensmith.web.session import BrowserUser
from tokensmith.web.views import checked_form

router = new_router()
DONE = {"password": "Your password is changed; your other sign-ins have ended.",
        "token_revoked": "The user token is revoked.", "session_revoked": "The session is revoked."}


def qr_svg(uri: str) -> Markup:
    """The QR code of ``uri`` as inline SVG markup (paths with classes, no style attribute, no script)."""
    code = segno.make(uri, error="m")
    # S704: the markup is segno's SVG of an otpauth URI we built (base32 secret, quoted e-mail), not user HTML
    svg = code.svg_inline(scale=4, border=2, svgclass="qr", lineclass="qr-line", omitsize=True,
                          title="QR code for your authenticator app")
    return Markup(svg)  # noqa: S704


async def _account(request: Request, user: BrowserUser, *, errors: dict[str, str] | None = None,
                   status: int = 200, message: str | None = None, extra: dict[str, Any] | None = None) -> Response:
    rt = runtime_of(request)
    me = await user_service.get_user(rt, user.user_id, user.tenant_id)
    tokens = []
    if user.allows(perm.USER_TOKEN_READ):
        tokens = [{"id": t.id, "name": t.name or "(no name)", "created": when(t.created_at),
                   "last_used": when(t.last_used_at)}
                  for t in await token_service.list_user_tokens(rt, user.tenant_id, user_id=user.user_id)]
    sessions = []
    if user.allows(perm.SESSION_READ):
        sessions = [{"id": s.id, "kind": s.kind, "created": when(s.created_at), "ip": s.ip or "—",
                     "agent": (s.user_agent or "—")[:80], "current": s.id == user.session_id}
                    for s in await session_service.list_sessions(rt, user.tenant_id, user_id=user.user_id)]
    context = {"me": me, "tokens": tokens, "sessions": sessions, "errors": errors or {}, "message": message,
               "min_length": rt.settings.password_min_length, **(extra or {})}
    return await page(request, user, "account.html", "account", context, status=status)


@router.get("/account")
async def account(request: Request, user: SignedIn) -> Response:
    return await _account(request, user, message=DONE.get(request.query_params.get("done", "")))


@router.post("/account/password")
async def change_password(request: Request, user: SignedIn) -> Response:
    form = await checked_form(request)
    rt = runtime_of(request)
    if form.get("new_password") != form.get("confirm_password"):
        return await _account(request, user, errors={"confirm_password": "The two new passwords differ."}, status=400)
    try:
        await user_service.change_own_password(rt, user.user_id, form.get("current_password"),
                                               form.get("new_password"), actor=actor(user))
    except ServiceError as exc:
        if not shown_error(exc):
            raise
        field = "current_password" if "current password" in exc.description else "new_password"
        return await _account(request, user, errors={field: exc.description}, status=exc.status)
    return see_other("/console/account?done=password")


@router.post("/account/totp/setup")
async def totp_setup(request: Request, user: SignedIn) -> Response:
    await checked_form(request)
    try:
        started = await totp.begin_setup(runtime_of(request), user.user_id)
    except ServiceError as exc:
        if not shown_error(exc):
            raise
        return await _account(request, user, errors=form_errors(exc), status=exc.status)
    return await page(request, user, "totp_setup.html", "account",
                      {"qr": qr_svg(started["otpauthUri"]), "secret": started["secret"]})


@router.post("/account/totp/enable")
async def totp_enable(request: Request, user: SignedIn) -> Response:
    form = await checked_form(request)
    try:
        codes = await totp.enable(runtime_of(request), user.user_id, form.get("code")[:64], actor=actor(user))
    except ServiceError as exc:
        if not shown_error(exc):
            raise
        return await page(request, user, "totp_setup.html", "account",
                          {"qr": None, "secret": None, "errors": {"code": exc.description}}, status=exc.status)
    return await page(request, user, "totp_enabled.html", "account", {"codes": codes})


@router.post("/account/tokens")
async def create_token(request: Request, user: SignedIn) -> Response:
    form = await checked_form(request)
    need(user, perm.USER_TOKEN_WRITE)
    rt = runtime_of(request)
    try:
        record, token = await token_service.create_user_token(rt, user_id=user.user_id, tenant_id=user.tenant_id,
                                                              name=form.get("name"), actor=actor(user),
                                                              ip=ip_of(request))
    except ServiceError as exc:
        if not shown_error(exc):
            raise
        return await _account(request, user, errors={"token_name": exc.description}, status=exc.status)
    return await page(request, user, "user_token_created.html", "account",
                      {"name": record.name, "token": token,
                       "exchange_url": rt.settings.issuer.rstrip("/") + "/api/user/oauth2/token"}, scripts=True)


@router.post("/account/tokens/{token_id}/revoke")
async def revoke_token(token_id: str, request: Request, user: SignedIn) -> Response:
    form = await checked_form(request)
    need(user, perm.USER_TOKEN_WRITE)
    rt = runtime_of(request)
    try:
        record = await token_service.get_user_token(rt, token_id, user.tenant_id)
    except NotFound:
        raise NotFound("user token not found") from None
    if record.user_id != user.user_id:
        raise NotFound("user token not found")  # others' tokens are managed on the users pages
    if not checkbox(form.get("confirm")):
        return await _account(request, user, errors={f"confirm-{token_id}": "Tick the box to confirm."}, status=400)
    await token_service.revoke_user_token(rt, token_id, tenant_id=user.tenant_id, actor=actor(user),
                                          ip=ip_of(request), request_id=request_id(request))
    return see_other("/console/account?done=token_revoked")


async def _my_session(request: Request, user: BrowserUser, session_id: str) -> SessionRecord:
    need(user, perm.SESSION_WRITE)
    record = await session_service.get_session(runtime_of(request), session_id)
    if record is None or record.tenant_id != user.tenant_id or record.user_id != user.user_id:
        raise NotFound("session not found")
    return record


@router.get("/account/sessions/{my_session_id}/revoke")
async def confirm_revoke_my_session(my_session_id: str, request: Request, user: SignedIn) -> Response:
    record = await _my_session(request, user, my_session_id)
    path = f"/console/account/sessions/{my_session_id}/revoke"
    return await confirm_page(request, user, "account",
                              await revoke_confirmation(request, record, path, "/console/account"))


@router.post("/account/sessions/{my_session_id}/revoke")
async def revoke_my_session(my_session_id: str, request: Request,
                            user: SignedIn) -> Response:
    """Confirmed on its page; "Sign out here" (the current session) posts the confirmation itself."""
    form = await checked_form(request)
    record = await _my_session(request, user, my_session_id)
    if not confirmed(form.fields):
        path = f"/console/account/sessions/{my_session_id}/revoke"
        return await confirm_page(request, user, "account",
                                  await revoke_confirmation(request, record, path, "/console/account"),
                                  error=NOT_CONFIRMED, status=400)
    context = request_context(request, user)
    await session_service.revoke_session(runtime_of(request), my_session_id, reason="revoked by " + context["actor"],
                                         actor=context["actor"], ip=context["ip"], request_id=context["request_id"])
    return see_other("/signin" if my_session_id == user.session_id else "/console/account?done=session_revoked")
