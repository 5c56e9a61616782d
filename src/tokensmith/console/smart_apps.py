"""SMART apps in the console (issue 12, "OAuth clients and SMART apps"): list, register one of the four
kinds (public; confidential with a secret shown once; confidential or backend service with a JWK Set
pasted as JSON or a JWKS URL), view with "try it" snippets naming this deployment's endpoints, edit the
name, redirect URIs and scopes, replace the keys, rotate a secret, disable (behind a confirmation page)
and enable.

Every action calls the functions behind ``/smart/apps`` (:mod:`tokensmith.smart.apps`), so a form is
refused for exactly the reasons the API refuses its JSON, shown next to the field; permissions as there
(``App.read`` to see, ``App.write`` to change). An app of another tenant is "not found".
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from tokensmith import permissions as perm
from tokensmith.clients import management as client_service
from tokensmith.console import smart_forms as forms
from tokensmith.console.common import (
    NOT_CONFIRMED,
    Confirmation,
    SignedIn,
    actor,
    confirm_page,
    confirmed,
    form_errors,
    lines,
    need,
    new_router,
    page,
    runtime_of,
    shown_error,
    whole_number,
)
from tokensmith.errors import NotFound, ServiceError
from tokensmith.smart import apps as service
from tokensmith.web.pages import see_other
from tokensmith.web.session import BrowserUser
from tokensmith.web.views import CheckedForm, checked_form

router = new_router()
ACTIVE = "apps"
BASE = "/console/smart-apps"
DONE = {"saved": "Changes saved.", "keys": "The keys are replaced: assertions must be signed with the new ones.",
        "disabled": "The app is disabled: every token it holds stops working.", "enabled": "The app is enabled."}
PROFILE_LABELS = {kind: label for kind, label, _ in forms.KINDS}
#: the forms' textareas (their CR LF line breaks read as LF)
TEXTAREAS = ("redirect_uris", "jwks")


async def _app(request: Request, user: BrowserUser, app_id: str) -> dict[str, Any]:
    try:
        return await service.get_app(runtime_of(request), user.tenant_id, app_id)
    except NotFound:
        raise NotFound("SMART app not found") from None


def _endpoints(request: Request) -> forms.Endpoints:
    settings = runtime_of(request).settings
    return forms.Endpoints.of(settings.issuer, settings.fhir_base)


@router.get("/smart-apps")
async def list_apps(request: Request, user: SignedIn) -> Response:
    need(user, perm.APP_READ)
    apps = await service.list_apps(runtime_of(request), user.tenant_id)
    return await page(request, user, "smart_apps.html", ACTIVE,
                      {"apps": apps, "labels": PROFILE_LABELS, "endpoints": _endpoints(request)})


async def _new_form(request: Request, user: BrowserUser, *, values: dict[str, str] | None = None,
                    errors: dict[str, str] | None = None, status: int = 200) -> Response:
    return await page(request, user, "smart_app_new.html", ACTIVE,
                      {"kinds": forms.KINDS, "methods": forms.AUTH_METHODS, "values": values or {},
                       "errors": errors or {}, "development": runtime_of(request).settings.is_development},
                      status=status)


@router.get("/smart-apps/new")
async def new_app(request: Request, user: SignedIn) -> Response:
    need(user, perm.APP_WRITE)
    return await _new_form(request, user)


@router.post("/smart-apps/new")
async def create_app(request: Request, user: SignedIn) -> Response:
    form = await checked_form(request, TEXTAREAS)
    need(user, perm.APP_WRITE)
    try:
        created = await service.register_app(runtime_of(request), tenant_id=user.tenant_id,
                                             spec=forms.spec_of(form.fields), actor=actor(user))
    except ServiceError as exc:
        if not shown_error(exc):
            raise
        return await _new_form(request, user, values=form.fields, errors=form_errors(exc, forms.FIELDS),
                               status=exc.status)
    secret = created.pop("clientSecret", None)
    return await _detail(request, user, created, secret=secret, message="The app is registered.")


async def _detail(request: Request, user: BrowserUser, app: dict[str, Any], *, secret: str | None = None,
                  errors: dict[str, str] | None = None, values: dict[str, str] | None = None, status: int = 200,
                  message: str | None = None) -> Response:
    rt = runtime_of(request)
    urls = _endpoints(request)
    backend = app["profile"] == service.BACKEND
    context = {
        "app": app, "secret": secret, "endpoints": urls, "label": PROFILE_LABELS.get(app["profile"], app["profile"]),
        "backend": backend, "keyed": app["profile"] in (service.ASYMMETRIC, service.BACKEND),
        "symmetric": app["profile"] == service.SYMMETRIC,
        "jwks_text": json.dumps(app["jwks"], indent=2) if app["jwks"] else "",
        "backend_snippet": forms.backend_snippet(app, urls, rt.settings.client_assertion_max_lifetime)
        if backend else None,
        "authorize_url": None if backend else forms.authorize_url(app, urls),
        "code_snippet": None if backend else forms.code_snippet(app, urls, secret),
        "max_grace": rt.settings.api_key_max_grace_period, "errors": errors or {}, "values": values or {},
        "message": message,
    }
    return await page(request, user, "smart_app_detail.html", ACTIVE, context, status=status,
                      scripts=secret is not None)


@router.get("/smart-apps/{app_id}")
async def app_detail(app_id: str, request: Request, user: SignedIn) -> Response:
    need(user, perm.APP_READ)
    return await _detail(request, user, await _app(request, user, app_id),
                         message=DONE.get(request.query_params.get("done", "")))


async def _update(request: Request, user: BrowserUser, form: CheckedForm, app: dict[str, Any],
                  changes: dict[str, Any], done: str) -> Response:
    try:
        await service.update_app(runtime_of(request), user.tenant_id, app["clientId"], changes, actor=actor(user))
    except ServiceError as exc:
        if not shown_error(exc) or exc.status == 404:
            raise
        return await _detail(request, user, app, errors=form_errors(exc, forms.FIELDS), values=form.fields,
                             status=exc.status)
    return see_other(f"{BASE}/{app['clientId']}?done={done}")


@router.post("/smart-apps/{app_id}/edit")
async def edit_app(app_id: str, request: Request, user: SignedIn) -> Response:
    """Name, scopes and (for apps that sign people in) redirect URIs."""
    form = await checked_form(request, TEXTAREAS)
    need(user, perm.APP_WRITE)
    app = await _app(request, user, app_id)
    name = form.get("name").strip()
    if not name or len(name) > 200:
        return await _detail(request, user, app, errors={"name": "enter a name of 1 to 200 characters"},
                             values=form.fields, status=400)
    changes: dict[str, Any] = {"name": name, "scopes": lines(form.get("scopes"), service.MAX_SCOPES + 1)}
    try:
        if app["profile"] != service.BACKEND:
            changes["redirect_uris"] = forms.redirect_uris_of(form.get("redirect_uris"))
    except ServiceError as exc:
        return await _detail(request, user, app, errors=form_errors(exc, forms.FIELDS), values=form.fields,
                             status=exc.status)
    return await _update(request, user, form, app, changes, "saved")


@router.post("/smart-apps/{app_id}/keys")
async def replace_keys(app_id: str, request: Request, user: SignedIn) -> Response:
    """A new JWK Set or JWKS URL replaces the registered keys (of apps that sign their requests)."""
    form = await checked_form(request, TEXTAREAS)
    need(user, perm.APP_WRITE)
    app = await _app(request, user, app_id)
    if app["profile"] not in (service.ASYMMETRIC, service.BACKEND):
        return await _detail(request, user, app, errors={"_form": "This app authenticates without keys."},
                             status=400)
    try:
        jwks, url = forms.keys_of(form.fields)
        if jwks is None and url is None:
            raise forms.invalid("jwks", "paste the app's public JWK Set or give its JWKS URL")
    except ServiceError as exc:
        return await _detail(request, user, app, errors=form_errors(exc, forms.FIELDS), values=form.fields,
                             status=exc.status)
    return await _update(request, user, form, app, {"jwks": jwks, "jwks_uri": url}, "keys")


@router.post("/smart-apps/{app_id}/rotate")
async def rotate_secret(app_id: str, request: Request, user: SignedIn) -> Response:
    form = await checked_form(request)
    need(user, perm.APP_WRITE)
    app = await _app(request, user, app_id)
    rt = runtime_of(request)
    if app["profile"] != service.SYMMETRIC:
        return await _detail(request, user, app, errors={"_form": "Only an app with a client secret rotates it."},
                             status=400)
    top = rt.settings.api_key_max_grace_period
    grace = whole_number(form.get("grace_seconds").strip() or "0")
    if grace is None or grace > top:
        return await _detail(request, user, app, errors={"grace_seconds": f"enter a number of seconds from 0 to {top}"},
                             status=400)
    secret = await client_service.rotate_client_secret(rt, app["clientId"], grace_seconds=grace, actor=actor(user))
    told = f" The previous secret keeps working for {grace} s." if grace else " The previous secret stopped working."
    return await _detail(request, user, app, secret=secret, message="The secret is rotated." + told)


def _disable_confirmation(app: dict[str, Any]) -> Confirmation:
    return Confirmation(
        title=f"Disable the SMART app {app['name']}?",
        explanation="Every access and refresh token the app holds stops working at once, and it gets no new "
                    "ones until it is enabled again.",
        action=f"{BASE}/{app['clientId']}/disable", check="Yes, disable this app",
        button="Disable the app", cancel=f"{BASE}/{app['clientId']}")


@router.get("/smart-apps/{app_id}/disable")
async def confirm_disable(app_id: str, request: Request, user: SignedIn) -> Response:
    need(user, perm.APP_WRITE)
    return await confirm_page(request, user, ACTIVE, _disable_confirmation(await _app(request, user, app_id)))


@router.post("/smart-apps/{app_id}/disable")
async def disable_app(app_id: str, request: Request, user: SignedIn) -> Response:
    form = await checked_form(request)
    need(user, perm.APP_WRITE)
    app = await _app(request, user, app_id)
    if not confirmed(form.fields):
        return await confirm_page(request, user, ACTIVE, _disable_confirmation(app), error=NOT_CONFIRMED, status=400)
    await service.update_app(runtime_of(request), user.tenant_id, app["clientId"], {"active": False},
                             actor=actor(user))
    return see_other(f"{BASE}/{app['clientId']}?done=disabled")


@router.post("/smart-apps/{app_id}/enable")
async def enable_app(app_id: str, request: Request, user: SignedIn) -> Response:
    await checked_form(request)
    need(user, perm.APP_WRITE)
    app = await _app(request, user, app_id)
    await service.update_app(runtime_of(request), user.tenant_id, app["clientId"], {"active": True},
                             actor=actor(user))
    return see_other(f"{BASE}/{app['clientId']}?done=enabled")
