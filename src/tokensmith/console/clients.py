"""OAuth clients in the console: list, create (role and scopes no wider than the user's own permissions),
view with a "try it" curl snippet naming the real endpoints, rotate the secret (optional grace), disable
and enable. Clients are ``kind="oauth"`` rows of ``tokensmith.clients``; the pages are written for a
:class:`ClientKind` so that SMART apps (``kind="smart"``, from the SMART branch) are another instance of
it plus their own fields, not a copy of the module.

Permissions: ``Client.read`` to see, ``Client.write`` to change (no HTTP API manages clients yet; the CLI
is the operator's way). A client of another tenant is "not found".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from tokensmith import clients as service
from tokensmith import permissions as perm
from tokensmith.clients import ClientRecord
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
    runtime_of,
    shown_error,
    when,
    whole_number,
)
from tokensmith.errors import InvalidRequest, NotFound, ServiceError, ValidationFailed
from tokensmith.people import roles as role_service
from tokensmith.web.pages import see_other
from tokensmith.web.session import BrowserUser
from tokensmith.web.views import CheckedForm, checked_form

router = new_router()
DONE = {"disabled": "The client is disabled: its tokens stop working.", "enabled": "The client is enabled.",
        "uris": "The redirect URIs are saved."}


@dataclass(frozen=True)
class ClientKind:
    """One family of client pages: the stored ``kind``, its URL segment, names and permissions."""

    kind: str
    path: str
    singular: str
    plural: str
    read: str
    write: str


OAUTH = ClientKind("oauth", "clients", "OAuth client", "OAuth clients", perm.CLIENT_READ, perm.CLIENT_WRITE)


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed([{"loc": [field], "msg": message, "type": "value_error"}])


def redirect_uris(value: str) -> list[str]:
    """Absolute http(s) URIs without a fragment (RFC 6749 §3.1.2), one per line."""
    uris = lines(value, 20)
    for uri in uris:
        try:
            parts = urlsplit(uri)
        except ValueError:  # an unclosed "[" of an IPv6 host
            raise _invalid("redirect_uris", f"not an absolute http(s) URI: {uri[:100]}") from None
        if parts.scheme not in ("https", "http") or not parts.netloc or parts.fragment or len(uri) > 2000:
            raise _invalid("redirect_uris", f"not an absolute http(s) URI without a fragment: {uri[:100]}")
    return uris


async def _find(request: Request, user: BrowserUser, kind: ClientKind, client_id: str) -> ClientRecord:
    for record in await service.list_clients(runtime_of(request), user.tenant_id):
        if record.client_id == client_id and record.kind == kind.kind:
            return record
    raise NotFound(f"{kind.singular} not found")


def _endpoints(request: Request) -> dict[str, str]:
    base = runtime_of(request).settings.issuer.rstrip("/")
    return {"token": base + "/oauth/token", "introspect": base + "/oauth/introspect",
            "revoke": base + "/oauth/revoke", "jwks": base + "/.well-known/jwks.json",
            "discovery": base + "/.well-known/oauth-authorization-server"}


async def _list_page(request: Request, user: BrowserUser, kind: ClientKind, *, errors: dict[str, str] | None = None,
                     values: dict[str, str] | None = None, status: int = 200) -> Response:
    rt = runtime_of(request)
    records = [r for r in await service.list_clients(rt, user.tenant_id) if r.kind == kind.kind]
    roles = await role_service.list_roles(rt, user.tenant_id)
    return await page(request, user, "clients.html", kind.path,
                      {"kind": kind, "clients": records, "roles": roles, "formats": rt.token_formats.names,
                       "methods": service.auth_methods(rt), "errors": errors or {}, "values": values or {},
                       "max_ttl": rt.settings.max_token_ttl}, status=status)


@router.get("/clients")
async def clients(request: Request, user: SignedIn) -> Response:
    need(user, OAUTH.read)
    return await _list_page(request, user, OAUTH)


async def _create_args(request: Request, user: BrowserUser, form: CheckedForm) -> dict[str, Any]:
    """The service's arguments from the form, refused when the role or scopes exceed the user's own."""
    rt = runtime_of(request)
    role = form.get("role") or None
    if role is not None:
        found = {r.name: r for r in await role_service.list_roles(rt, user.tenant_id)}.get(role)
        if found is None:
            raise _invalid("role", "no such role")
        role_service.check_grantable(user.permissions, list(found.permissions))
    scopes = lines(form.get("scopes"), 100)
    role_service.check_grantable(user.permissions, scopes)
    if role is None and not scopes:
        raise _invalid("scopes", "give the client a role or at least one scope")
    ttl_text = form.get("ttl").strip()
    ttl = whole_number(ttl_text)
    if ttl_text and (ttl is None or not 1 <= ttl <= rt.settings.max_token_ttl):
        raise _invalid("ttl", f"enter a number of seconds from 1 to {rt.settings.max_token_ttl}")
    return {"name": form.get("name").strip(), "role": role, "scopes": scopes,
            "is_confidential": checkbox(form.get("confidential")),
            "auth_method": form.get("auth_method") or "client_secret_basic",
            "access_token_format": form.get("format") or "jwt", "access_token_ttl": ttl or None,
            "redirect_uris": redirect_uris(form.get("redirect_uris"))}


@router.post("/clients")
async def create_client(request: Request, user: SignedIn) -> Response:
    return await _create(request, user, OAUTH)


async def _create(request: Request, user: BrowserUser, kind: ClientKind) -> Response:
    form = await checked_form(request, ("redirect_uris",))
    need(user, kind.write)
    try:
        args = await _create_args(request, user, form)
        if not args["name"] or len(args["name"]) > 200:
            raise _invalid("name", "enter a name of 1 to 200 characters")
        record, secret = await service.create_client(runtime_of(request), tenant_id=user.tenant_id, kind=kind.kind,
                                                     actor=actor(user), **args)
    except ServiceError as exc:
        if not shown_error(exc):
            raise
        errors = form_errors(exc, {k: k for k in ("name", "role", "scopes", "ttl", "redirect_uris")})
        return await _list_page(request, user, kind, errors=errors, values=form.fields, status=exc.status)
    return await _detail(request, user, kind, record, secret=secret)


async def _detail(request: Request, user: BrowserUser, kind: ClientKind, record: ClientRecord, *,
                  secret: str | None = None, errors: dict[str, str] | None = None, status: int = 200,
                  message: str | None = None) -> Response:
    rt = runtime_of(request)
    return await page(request, user, "client_detail.html", kind.path,
                      {"kind": kind, "c": record, "secret": secret, "endpoints": _endpoints(request),
                       "errors": errors or {}, "message": message,
                       "grace_until": when(record.previous_secret_expires_at)
                       if record.previous_secret_expires_at else None,
                       "max_grace": rt.settings.api_key_max_grace_period}, status=status, scripts=secret is not None)


@router.get("/clients/{client_id}")
async def client_detail(client_id: str, request: Request, user: SignedIn) -> Response:
    need(user, OAUTH.read)
    return await _detail(request, user, OAUTH, await _find(request, user, OAUTH, client_id),
                         message=DONE.get(request.query_params.get("done", "")))


@router.post("/clients/{client_id}/rotate")
async def rotate_secret(client_id: str, request: Request, user: SignedIn) -> Response:
    form = await checked_form(request)
    need(user, OAUTH.write)
    record = await _find(request, user, OAUTH, client_id)
    rt = runtime_of(request)
    top = rt.settings.api_key_max_grace_period
    grace = whole_number(form.get("grace_seconds").strip() or "0")
    if grace is None or grace > top:
        return await _detail(request, user, OAUTH, record, status=400,
                             errors={"grace_seconds": f"enter a number of seconds from 0 to {top}"})
    try:
        secret = await service.rotate_client_secret(rt, client_id, grace_seconds=grace, actor=actor(user))
    except InvalidRequest as exc:
        return await _detail(request, user, OAUTH, record, errors={"_form": exc.description}, status=400)
    return await _detail(request, user, OAUTH, await _find(request, user, OAUTH, client_id), secret=secret)


def _disable_confirmation(kind: ClientKind, record: ClientRecord) -> Confirmation:
    return Confirmation(
        title=f"Disable the {kind.singular} {record.name}?",
        explanation="Every token of this client stops working at once, and it gets no new ones until it is "
                    "enabled again.",
        action=f"/console/{kind.path}/{record.client_id}/status", check="Yes, disable this client",
        button="Disable the client", cancel=f"/console/{kind.path}/{record.client_id}", fields={"action": "disable"})


@router.get("/clients/{client_id}/disable")
async def confirm_disable(client_id: str, request: Request, user: SignedIn) -> Response:
    need(user, OAUTH.write)
    record = await _find(request, user, OAUTH, client_id)
    return await confirm_page(request, user, OAUTH.path, _disable_confirmation(OAUTH, record))


@router.post("/clients/{client_id}/status")
async def set_status(client_id: str, request: Request, user: SignedIn) -> Response:
    form = await checked_form(request)
    need(user, OAUTH.write)
    record = await _find(request, user, OAUTH, client_id)
    enable = form.get("action") == "enable"
    if not enable and not confirmed(form.fields):
        return await confirm_page(request, user, OAUTH.path, _disable_confirmation(OAUTH, record),
                                  error=NOT_CONFIRMED, status=400)
    await service.set_client_status(runtime_of(request), client_id, enable, actor=actor(user))
    return see_other(f"/console/clients/{client_id}?done={'enabled' if enable else 'disabled'}")


@router.post("/clients/{client_id}/redirect-uris")
async def set_redirect_uris(client_id: str, request: Request, user: SignedIn) -> Response:
    form = await checked_form(request, ("redirect_uris",))
    need(user, OAUTH.write)
    record = await _find(request, user, OAUTH, client_id)
    try:
        uris = redirect_uris(form.get("redirect_uris"))
    except ValidationFailed as exc:
        return await _detail(request, user, OAUTH, record, errors=form_errors(exc, {"redirect_uris": "redirect_uris"}),
                             status=400)
    await service.set_redirect_uris(runtime_of(request), client_id, uris, actor=actor(user))
    return see_other(f"/console/clients/{client_id}?done=uris")
