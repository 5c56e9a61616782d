"""What every console page shares: the navigation (only what the user may use), permission checks that
answer with the 403 page, rendering inside the console layout, and turning a service's error into a
message next to the form field it concerns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import HTMLResponse

from tokensmith import permissions as perm
from tokensmith.clock import iso_z
from tokensmith.errors import Forbidden, ServiceError, ValidationFailed
from tokensmith.http.deps import ip_of, request_id
from tokensmith.http.errors import PAGE_TAG
from tokensmith.web.pages import content_security_policy
from tokensmith.web.session import BrowserUser, require_browser_user
from tokensmith.web.views import render_page

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

PREFIX = "/console"
#: the signed-in user of a console page (else a 303 to the sign-in page)
SignedIn = Annotated[BrowserUser, Depends(require_browser_user)]
SIGNING_KEY_READ = "SigningKey.read"
SIGNING_KEY_WRITE = "SigningKey.write"


def new_router() -> APIRouter:
    """A router of console pages: HTML errors (the ``pages`` tag), not in the OpenAPI document."""
    return APIRouter(prefix=PREFIX, tags=[PAGE_TAG], include_in_schema=False)


def runtime_of(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def actor(user: BrowserUser) -> str:
    """The audit actor of the console user, as the management API writes it for a user's token."""
    return f"user:{user.user_id}"


def request_context(request: Request, user: BrowserUser) -> dict[str, Any]:
    return {"actor": actor(user), "ip": ip_of(request), "request_id": request_id(request)}


def need(user: BrowserUser, permission: str) -> None:
    """403 page unless the user holds ``permission`` (the same matcher as ``http.auth.require``)."""
    if not user.allows(permission):
        raise Forbidden(f"This page needs the {permission} permission, which your role does not have.")


async def is_platform_operator(rt: Runtime, user: BrowserUser) -> bool:
    """Signing keys are the deployment's, not a tenant's: only users of the platform's own tenant manage
    them (as ``/tenants`` is for them only)."""
    states = rt.tenants
    if states.platform_id is None:
        await states.load()
    return states.platform_id is not None and user.tenant_id == states.platform_id


async def need_signing_keys(rt: Runtime, user: BrowserUser, permission: str) -> None:
    if not await is_platform_operator(rt, user):
        raise Forbidden("Signing keys belong to the whole deployment: only the platform tenant's users manage them.")
    need(user, permission)


@dataclass(frozen=True)
class Section:
    key: str
    label: str
    path: str
    visible: Callable[[BrowserUser, bool], bool]


SECTIONS = (
    Section("overview", "Overview", "/console", lambda u, p: True),
    Section("apikeys", "API keys", "/console/api-keys", lambda u, p: u.allows(perm.API_KEY_READ)),
    Section("clients", "OAuth clients", "/console/clients", lambda u, p: u.allows(perm.CLIENT_READ)),
    Section("apps", "SMART apps", "/console/smart-apps", lambda u, p: u.allows(perm.APP_READ)),
    Section("directory", "Directory", "/console/directory/patients", lambda u, p: u.allows(perm.DIRECTORY_READ)),
    Section("users", "Users", "/console/users", lambda u, p: u.allows(perm.USER_READ)),
    Section("exchange", "Exchange users", "/console/exchange-users",
            lambda u, p: u.allows(perm.EXCHANGE_USER_READ)),
    Section("sessions", "Sessions", "/console/sessions", lambda u, p: u.allows(perm.USER_READ)),
    Section("keys", "Signing keys", "/console/signing-keys", lambda u, p: p and u.allows(SIGNING_KEY_READ)),
    Section("audit", "Audit log", "/console/audit", lambda u, p: u.allows(perm.AUDIT_READ)),
    Section("account", "My account", "/console/account", lambda u, p: True),
)


async def page(request: Request, user: BrowserUser, template: str, active: str,
               context: dict[str, Any] | None = None, *, status: int = 200,
               headers: dict[str, str] | None = None, scripts: bool = False) -> HTMLResponse:
    """A console page: the layout's navigation lists only the sections the user may open. ``scripts``:
    the page loads the console's one static script (copy buttons), so its CSP allows ``script-src 'self'``
    — still no inline script anywhere."""
    rt = runtime_of(request)
    if scripts:
        headers = {**(headers or {}), "Content-Security-Policy": script_policy()}
    platform = await is_platform_operator(rt, user)
    nav = [s for s in SECTIONS if s.visible(user, platform)]
    values: dict[str, Any] = {"nav": nav, "active": active, "user": user, "may": user.allows,
                              "errors": {}, "message": None}
    values.update(context or {})
    return await render_page(request, "console/" + template, values, status=status, headers=headers)


@dataclass(frozen=True)
class Confirmation:
    """A destructive action's confirmation page (no script): what happens, a required box to tick, and the
    POST (with the CSRF token and ``fields`` as hidden inputs) that does it. ``ask``: a text field the
    user fills in on the page itself (name, label, value) when the object is not known from the link."""

    title: str
    explanation: str
    action: str
    check: str
    button: str
    cancel: str
    fields: dict[str, str] = field(default_factory=dict)
    ask: tuple[str, str, str] | None = None


async def confirm_page(request: Request, user: BrowserUser, active: str, confirmation: Confirmation, *,
                       error: str | None = None, status: int = 200,
                       errors: dict[str, str] | None = None) -> HTMLResponse:
    """The confirmation page; ``error``: the box was not ticked (the POST came without ``confirm``)."""
    shown = dict(errors or {})
    if error:
        shown["confirm"] = error
    return await page(request, user, "confirm.html", active, {"c": confirmation, "errors": shown}, status=status)


def confirmed(fields: dict[str, str]) -> bool:
    return checkbox(fields.get("confirm", ""))


NOT_CONFIRMED = "Tick the box to confirm."


def script_policy() -> str:
    return content_security_policy().replace("default-src 'none';", "default-src 'none'; script-src 'self';")


def form_errors(exc: ServiceError, fields: dict[str, str] | None = None) -> dict[str, str]:
    """A service's refusal as ``{field: message}``, to show next to the fields of the form that was posted.
    ``fields`` maps the names the service uses (``expiresAt``) to the form's; a refusal naming no field of
    the form goes to ``"_form"`` (shown above the form)."""
    if isinstance(exc, ValidationFailed):
        out: dict[str, str] = {}
        for item in exc.errors:
            loc = item.get("loc") or []
            name = str(loc[0]) if loc else ""
            key = (fields or {}).get(name, "_form")
            message = str(item.get("msg", "invalid value"))
            out[key] = f"{out[key]}; {message}" if key in out else message
        return out
    return {"_form": exc.description or "The request was refused."}


def shown_error(exc: ServiceError) -> bool:
    """Errors a form shows next to its fields (the user can correct them); others become the error page."""
    return 400 <= exc.status < 500 and exc.status not in (401, 429)


def when(value: float | datetime | None) -> str:
    """A time for a table cell: ``2026-12-02 08:15 UTC``, or an em dash."""
    text = iso_z(value)
    return "—" if text is None else text.replace("T", " ")[:16] + " UTC"


def checkbox(value: str) -> bool:
    return value in ("on", "true", "1", "yes")


def lines(value: str, limit: int = 100) -> list[str]:
    """A textarea or space-separated field as a list of non-empty items."""
    return [item for item in value.replace(",", " ").split() if item][:limit]


def whole_number(value: str) -> int | None:
    """A field holding a plain ASCII whole number of at most 12 digits, else None (``str.isdigit`` alone
    accepts ``²`` and digit strings too long for ``int``, both of which would make ``int()`` raise)."""
    value = value.strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 12 else None
