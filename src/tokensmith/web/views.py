"""What a page handler uses: :func:`render_page` (a template with the CSRF token of the request's
binding and the signed-in user) and :func:`checked_form` (a POST's form, refused when it is cross-site
or its CSRF token is missing or wrong). The binding is the browser session when someone is signed in,
else the pre-session cookie, which :func:`render_page` sets when the browser has none yet."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse

from tokensmith.web import forms
from tokensmith.web.pages import render
from tokensmith.web.session import BrowserUser, current_browser_user

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

_PRESESSION_MAX_AGE = 24 * 3600


def _runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


@dataclass(frozen=True)
class CheckedForm:
    """A POST that passed the cross-site and CSRF checks."""

    fields: dict[str, str]
    user: BrowserUser | None

    def get(self, name: str, default: str = "") -> str:
        return self.fields.get(name, default)


def _binding(request: Request, rt: Runtime, user: BrowserUser | None) -> str | None:
    if user is not None:
        return "sid:" + user.session_id
    pre = forms.read_cookie(request, rt.settings, forms.PRESESSION_COOKIE)
    return "pre:" + pre if pre else None


async def render_page(request: Request, template: str, context: dict[str, Any] | None = None, *,
                      status: int = 200, form_targets: Iterable[str] = (),
                      headers: dict[str, str] | None = None) -> HTMLResponse:
    """Render with ``csrf_token`` and ``signed_in_email`` in the context (every form of the page posts the
    token in a hidden ``csrf_token`` field)."""
    rt = _runtime(request)
    user = await current_browser_user(request)
    new_pre = None
    binding = _binding(request, rt, user)
    if binding is None:
        new_pre = forms.new_presession()
        binding = "pre:" + new_pre
    values = {"csrf_token": forms.csrf_token(rt, binding), "signed_in_email": user.email if user else None}
    values.update(context or {})
    response = render(request, template, values, status=status, form_targets=form_targets, headers=headers)
    if new_pre is not None:
        forms.set_cookie(response, rt.settings, forms.PRESESSION_COOKIE, new_pre, _PRESESSION_MAX_AGE)
    return response


async def checked_form(request: Request) -> CheckedForm:
    """The form of a POST from one of this site's pages (403 otherwise)."""
    rt = _runtime(request)
    forms.refuse_cross_site(request, rt.settings)
    fields = await forms.read_form(request)
    user = await current_browser_user(request)
    forms.check_csrf(rt, _binding(request, rt, user), fields.get("csrf_token"))
    return CheckedForm(fields, user)
