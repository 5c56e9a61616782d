"""The authorization endpoint's pages: ``GET /oauth/authorize`` (also ``/smart/authorize``) and the
consent form's ``POST`` to the same paths.

The request is validated in two stages (:mod:`tokensmith.codeflow.request`): errors about the client or
its redirect URI are the error page, never a redirect; later ones go back to the app. Then the browser
session: none (or too old for ``max_age``, or ``prompt=login``) → the sign-in page, which comes back
here (``prompt=none`` → ``login_required``); a consent that covers the scopes → a code at once, else the
consent page (``prompt=none`` → ``consent_required``; ``prompt=consent`` always asks). The consent form
carries the request itself (re-validated on POST), so nothing is kept between the two.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, FastAPI
from starlette.requests import Request
from starlette.responses import Response

from tokensmith.codeflow import consents
from tokensmith.codeflow.codes import issue_code
from tokensmith.codeflow.launch import LaunchContext, LaunchRefused, LaunchRequest
from tokensmith.codeflow.request import (
    AuthorizationRequest,
    ClientAndRedirect,
    PageError,
    RedirectError,
    client_and_redirect,
    redirect_with,
    validate,
)
from tokensmith.codeflow.scope_words import IDENTITY_SCOPES
from tokensmith.http.errors import PAGE_TAG
from tokensmith.web.pages import error_page, see_other
from tokensmith.web.session import BrowserUser, current_browser_user, signin_url
from tokensmith.web.signin import register_next_targets
from tokensmith.web.views import checked_form, render_page

if TYPE_CHECKING:
    from tokensmith.oauth.server import AuthorizationServer
    from tokensmith.runtime import Runtime

PATHS = ("/oauth/authorize", "/smart/authorize")
#: the patient picker's search box (a GET of the same authorization request with this added)
PATIENT_QUERY = "patient_query"
router = APIRouter(tags=[PAGE_TAG], include_in_schema=False)


def setup(app: FastAPI) -> None:
    register_next_targets(app, _redirect_targets)


async def _redirect_targets(rt: Runtime, next_path: str) -> list[str]:
    """The sign-in form's ``next`` may be an authorization request that redirects to the app at once."""
    parts = urlsplit(next_path)
    if parts.path not in PATHS:
        return []
    try:
        found = await client_and_redirect(rt, parse_qsl(parts.query, keep_blank_values=True))
    except PageError:
        return []
    return [found.redirect_uri]


def _rt(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def _server(request: Request) -> AuthorizationServer:
    server: AuthorizationServer = request.app.state.authorization
    return server


async def _validated(request: Request, params: list[tuple[str, str]]) -> tuple[ClientAndRedirect,
                                                                               AuthorizationRequest] | Response:
    rt = _rt(request)
    try:
        found = await client_and_redirect(rt, params)
    except PageError as exc:
        return error_page(request, exc.status, "This sign-in link cannot be used", exc.message)
    try:
        return found, validate(rt, _server(request), found)
    except RedirectError as exc:
        return see_other(found.error_redirect(exc, rt.settings.issuer))


@router.get("/oauth/authorize")
@router.get("/smart/authorize")
async def authorize(request: Request) -> Response:
    validated = await _validated(request, list(request.query_params.multi_items()))
    if isinstance(validated, Response):
        return validated
    found, areq = validated
    return await _proceed(request, found, areq, request.url.path, decision=None,
                          query=request.query_params.get(PATIENT_QUERY, "")[:100])


@router.post("/oauth/authorize")
@router.post("/smart/authorize")
async def consent_answer(request: Request) -> Response:
    form = await checked_form(request)
    validated = await _validated(request, parse_qsl(form.get("request"), keep_blank_values=True))
    if isinstance(validated, Response):
        return validated
    found, areq = validated
    decision = form.get("decision")
    return await _proceed(request, found, areq, request.url.path, decision=decision if decision else "deny",
                          patient=form.get("patient") or None)


def _fail(rt: Runtime, found: ClientAndRedirect, error: str, description: str) -> Response:
    return see_other(found.error_redirect(RedirectError(error, description), rt.settings.issuer))


async def _proceed(request: Request, found: ClientAndRedirect, areq: AuthorizationRequest, path: str,
                   decision: str | None, patient: str | None = None, query: str = "") -> Response:
    rt = _rt(request)
    user = await current_browser_user(request)
    now = int(rt.clock.now())
    stale = user is not None and ((areq.max_age is not None and now - user.auth_time > areq.max_age)
                                  or (areq.auth_after is not None and user.auth_time < areq.auth_after))
    if user is None or stale or ("login" in areq.prompt and decision is None):
        if "none" in areq.prompt:
            return _fail(rt, found, "login_required", "the user is not signed in (or not recently enough)")
        return _to_signin(path, found.values, now, fresh=user is not None)
    assert user is not None
    if user.tenant_id != areq.client.tenant_id:
        return _fail(rt, found, "access_denied", "this application belongs to another organisation")
    scopes = _grantable(_server(request), areq, user)
    if decision == "deny":
        rt.audit.record("consent.denied", tenant_id=user.tenant_id, actor=f"user:{user.user_id}",
                        subject=areq.client.client_id)
        return _fail(rt, found, "access_denied", "the user declined")
    resolver = _server(request).launch_resolver
    if resolver.available and patient is None:
        choices = await resolver.patient_choices(_launch_request(user, areq, scopes), query)
        if choices is not None:  # the user picks the patient (also when the consent is remembered)
            if "none" in areq.prompt:
                return _fail(rt, found, "interaction_required", "the user has to choose a patient")
            return await _consent_page(request, areq, scopes, found.values, path,
                                       picker={"choices": choices, "query": query, "missing": decision == "allow"})
    if decision is None:
        remembered = await consents.granted_scopes(rt, user.user_id, areq.client.client_id)
        if "consent" in areq.prompt or not set(scopes) <= remembered:
            if "none" in areq.prompt:
                return _fail(rt, found, "consent_required", "the user has not allowed this application yet")
            return await _consent_page(request, areq, scopes, found.values, path)
    else:
        await consents.remember(rt, tenant_id=user.tenant_id, user_id=user.user_id,
                                client_id=areq.client.client_id, scopes=scopes)
    return await _issue(request, found, areq, user, scopes, patient)


def _launch_request(user: BrowserUser, areq: AuthorizationRequest, scopes: tuple[str, ...],
                    patient: str | None = None) -> LaunchRequest:
    return LaunchRequest(user.tenant_id, user.user_id, areq.client.client_id, areq.launch, scopes,
                         patient_choice=patient)


def _to_signin(path: str, values: dict[str, str], now: int, *, fresh: bool) -> Response:
    """To the sign-in page, coming back to this request. A forced or stale sign-in comes back without
    ``prompt=login`` but with ``auth_after``: the new sign-in satisfies it, so the round trip ends."""
    params = dict(values)
    prompt = [p for p in params.get("prompt", "").split() if p != "login"]
    if fresh or "login" in values.get("prompt", "").split():
        params["auth_after"] = str(now)
        if prompt:
            params["prompt"] = " ".join(prompt)
        else:
            params.pop("prompt", None)
    target = signin_url(f"{path}?{urlencode(params)}")
    return see_other(target + ("&fresh=1" if fresh else ""))


def _grantable(server: AuthorizationServer, areq: AuthorizationRequest, user: BrowserUser) -> tuple[str, ...]:
    """What the user can delegate: identity scopes, and scopes of the default ``Resource.action`` language
    only within the user's own permissions (other languages judge their scopes themselves)."""
    languages = server.scopes
    granted = []
    for scope in areq.scopes:
        if (scope in IDENTITY_SCOPES or languages.language_of(scope) is not languages.default
                or user.allows(scope)):
            granted.append(scope)
    return tuple(granted)


async def _consent_page(request: Request, areq: AuthorizationRequest, scopes: tuple[str, ...],
                        values: dict[str, str], path: str, picker: dict[str, object] | None = None) -> Response:
    words = _server(request).scope_words
    described = [(words.describe(s), s) for s in scopes]
    return await render_page(request, "consent.html", {
        "client_name": areq.client.name, "scopes": described, "action": path,
        "request_query": urlencode({k: v for k, v in values.items()
                                    if (k != "prompt" or v != "consent") and k != PATIENT_QUERY}),
        "request_values": [(k, v) for k, v in values.items() if k != PATIENT_QUERY], "picker": picker,
    }, form_targets=[areq.redirect_uri])


async def _issue(request: Request, found: ClientAndRedirect, areq: AuthorizationRequest, user: BrowserUser,
                 scopes: tuple[str, ...], patient: str | None) -> Response:
    rt = _rt(request)
    launch: LaunchContext | None = None
    resolver = _server(request).launch_resolver
    if resolver.available:
        try:
            launch = await resolver.resolve(_launch_request(user, areq, scopes, patient))
        except LaunchRefused as exc:
            return _fail(rt, found, "invalid_request", str(exc)[:200])
    code = await issue_code(rt, tenant_id=user.tenant_id, client_id=areq.client.client_id, user_id=user.user_id,
                            browser_session_id=user.session_id, redirect_uri=areq.redirect_uri,
                            redirect_uri_given=areq.redirect_uri_given, code_challenge=areq.code_challenge,
                            scopes=scopes, nonce=areq.nonce, auth_time=user.auth_time, amr=user.amr,
                            audience=areq.audience, launch=launch)
    return see_other(redirect_with(areq.redirect_uri, {"code": code, "state": areq.state, "iss": rt.settings.issuer}))
