"""``GET/POST /signin`` (e-mail and password, then a TOTP or recovery code when the account has TOTP),
``POST /signout``, and ``/static/…``.

The checks, lockout, throttling and audit events are those of ``/auth/login``
(:func:`tokensmith.people.login.check_password` / :func:`~tokensmith.people.login.check_second_factor`);
only the outcome differs: a browser session cookie and a 303 to ``next`` (a local path) instead of tokens.

``next`` may lead to a page that redirects on to another origin at once (the authorization endpoint with
a remembered consent): Chromium applies the sign-in form's CSP ``form-action`` to that redirect too, so
features register :data:`NextTargets` hooks naming the URLs a ``next`` may end up at.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI
from starlette.requests import Request
from starlette.responses import Response

from tokensmith.errors import MessageError, RateLimited
from tokensmith.http.deps import ip_of, request_id
from tokensmith.http.errors import PAGE_TAG
from tokensmith.people.login import Context, MfaChallenge, Verified, check_password, check_second_factor
from tokensmith.web import forms
from tokensmith.web.pages import see_other as redirect
from tokensmith.web.pages import static_response
from tokensmith.web.session import (
    SESSION_COOKIE,
    current_browser_user,
    end_browser_session,
    local_next,
    start_browser_session,
)
from tokensmith.web.views import checked_form, render_page

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

#: ``hook(runtime, next)`` → URLs of other origins the page at ``next`` may redirect to straight away
NextTargets = Callable[["Runtime", str], Awaitable[list[str]]]
router = APIRouter(tags=[PAGE_TAG], include_in_schema=False)


def setup(app: FastAPI) -> None:
    app.state.signin_next_targets = getattr(app.state, "signin_next_targets", [])


def register_next_targets(app: FastAPI, hook: NextTargets) -> None:
    if not hasattr(app.state, "signin_next_targets"):
        app.state.signin_next_targets = []
    app.state.signin_next_targets.append(hook)


def _rt(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def _context(request: Request) -> Context:
    return Context(ip=ip_of(request), user_agent=request.headers.get("user-agent"), request_id=request_id(request))


async def _targets(request: Request, next_path: str) -> list[str]:
    targets: list[str] = []
    for hook in getattr(request.app.state, "signin_next_targets", []):
        targets += await hook(_rt(request), next_path)
    return targets


@router.get("/static/{name}")
async def static_file(name: str, request: Request) -> Response:
    return static_response(name, request.headers.get("if-none-match"))


@router.get("/signin")
async def signin_page(request: Request) -> Response:
    next_path = local_next(request.query_params.get("next"), "")
    user = await current_browser_user(request)
    if user is not None and request.query_params.get("fresh") != "1":
        return redirect(next_path) if next_path else await render_page(request, "signed_in.html")
    return await _form(request, next_path)


async def _form(request: Request, next_path: str, *, email: str = "", error: str | None = None,
                status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return await render_page(request, "signin.html", {"next": next_path, "email": email, "error": error,
                                                      "client_name": None},
                             status=status, form_targets=await _targets(request, next_path), headers=headers)


@router.post("/signin")
async def signin_submit(request: Request) -> Response:
    form = await checked_form(request)
    next_path = local_next(form.get("next"), "")
    ctx = _context(request)
    mfa_token = form.get("mfa_token")
    email = form.get("email")[:320]
    rt = _rt(request)
    try:
        result: Verified | MfaChallenge
        if mfa_token:
            result = await check_second_factor(rt, mfa_token[:512], form.get("code")[:64], ctx)
        else:
            result = await check_password(rt, email, form.get("password")[:1024], ctx)
    except RateLimited as exc:
        message = f"Too many sign-in attempts. Try again in {exc.retry_after} seconds."
        return await _form(request, next_path, email=email, error=message, status=429, headers=exc.headers)
    except MessageError as exc:
        if mfa_token and exc.status == 401 and "code" in exc.description:
            return await _totp_form(request, next_path, mfa_token, error=exc.description, status=401)
        return await _form(request, next_path, email=email, error=exc.description, status=exc.status)
    if isinstance(result, MfaChallenge):
        return await _totp_form(request, next_path, result.mfa_token)
    cookie = await start_browser_session(rt, result, ctx)
    response = redirect(next_path or "/signin", form_targets=await _targets(request, next_path))
    forms.set_cookie(response, rt.settings, SESSION_COOKIE, cookie, rt.settings.browser_session_absolute_timeout)
    return response


async def _totp_form(request: Request, next_path: str, mfa_token: str, *, error: str | None = None,
                     status: int = 200) -> Response:
    return await render_page(request, "signin_totp.html", {"next": next_path, "mfa_token": mfa_token,
                                                           "error": error},
                             status=status, form_targets=await _targets(request, next_path))


@router.post("/signout")
async def signout(request: Request) -> Response:
    form = await checked_form(request)
    rt = _rt(request)
    if form.user is not None:
        await end_browser_session(rt, form.user, _context(request))
    response = redirect("/signin")
    forms.clear_cookie(response, rt.settings, SESSION_COOKIE)
    return response
