"""The SMART standalone launch in Chromium: ``/smart/authorize`` with ``launch/patient`` and the FHIR base
as ``aud`` → sign in (without TOTP, then with) → search and pick a patient on the consent page → Allow →
the browser is sent to the app with a code → token with PKCE (patient, scope, need_patient_banner, an ID
token with fhirUser and nonce) → refresh → revoke. Declining, a cross-site POST of the consent form and an
unregistered redirect URI are checked in the browser too. Pages are saved as ``docs/screenshots/smart-*.png``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pyotp

from tests.browser.helpers import AppServer, shot, sign_in, smart_site
from tests.codeflow.helpers import Flow, query_of
from tests.people.helpers import introspect, jwt_claims
from tests.support import LiveServer
from tokensmith.clock import ManualClock

SCOPE = "openid fhirUser launch/patient patient/Patient.rs offline_access"


def _go_authorize(page: Any, web: LiveServer, flow: Flow, **extra: str) -> Any:
    params = flow.params(aud=web.settings.fhir_base, **extra)
    return page.goto(f"{web.url}/smart/authorize?{urlencode(params)}")


def _pick_alice(page: Any, screenshot: bool) -> None:
    """Search the directory from the consent page, choose Alice Smith, allow."""
    page.wait_for_selector("text=Choose the patient")
    assert page.locator("input[name=patient]").count() == 2  # both patients listed before a search
    page.fill("#patient_query", "Smith")
    page.click("button:has-text('Search')")
    page.wait_for_selector("label:has-text('Alice Smith')")
    assert page.locator("input[name=patient]").count() == 1 and "Bob Jones" not in page.content()
    page.check("input[name=patient][value=alice-1]")
    if screenshot:
        shot(page, "smart-picker", full_page=True)
    page.click("#allow")


def _token_then_refresh_then_revoke(web: LiveServer, flow: Flow, callback: str, practitioner: str) -> None:
    got = query_of(callback)
    assert got["state"] == flow.state and got["iss"] == web.settings.issuer and "error" not in got
    token = flow.exchange(got["code"])
    assert token.status_code == 200, token.text
    assert token.headers["cache-control"] == "no-store"
    body = token.json()
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 900)
    assert body["patient"] == "alice-1" and body["need_patient_banner"] is True
    assert set(body["scope"].split()) == set(SCOPE.split())
    assert body["fhirUser"] == f"Practitioner/{practitioner}"
    id_token = jwt_claims(body["id_token"])
    assert id_token["fhirUser"] == f"Practitioner/{practitioner}" and id_token["nonce"] == flow.nonce
    assert id_token["aud"] == flow.client_id and id_token["iss"] == web.settings.issuer
    access = jwt_claims(body["access_token"])
    assert access["patient"] == "alice-1" and access["aud"] == web.settings.fhir_base

    refreshed = flow.refresh(body["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    again = refreshed.json()
    assert again["patient"] == "alice-1" and set(again["scope"].split()) == set(SCOPE.split())
    assert introspect(web, flow.http, again["access_token"])["active"] is True
    revoked = flow.http.post("/oauth/revoke", data={"token": again["refresh_token"], "client_id": flow.client_id,
                                                    "token_type_hint": "refresh_token"})
    assert revoked.status_code == 200
    assert flow.refresh(again["refresh_token"]).json()["error"] == "invalid_grant"  # the grant has ended:
    assert introspect(web, flow.http, again["access_token"])["active"] is False  # its access tokens with it


def _standalone(web: LiveServer, page: Any, app: AppServer, email: str, clock: ManualClock, otp: pyotp.TOTP | None,
                client_id: str, practitioner: str) -> None:
    with web.client() as http:
        flow = Flow(web, http, client_id, scope=SCOPE, redirect_uri=app.redirect_uri)
        _go_authorize(page, web, flow)
        page.wait_for_selector("#password")
        if otp is None:
            shot(page, "smart-signin")
        sign_in(page, email)
        if otp is not None:
            page.wait_for_selector("#code")
            shot(page, "smart-signin-totp")
            page.fill("#code", otp.at(clock.now()))
            page.click("button[type=submit]")
        _pick_alice(page, screenshot=otp is None)
        page.wait_for_selector("text=Example App")
        assert page.url == app.seen[-1] and page.url.startswith(app.redirect_uri + "?")
        _token_then_refresh_then_revoke(web, flow, app.seen[-1], practitioner)


def test_a_standalone_launch_without_totp_picks_the_patient(web: LiveServer, page: Any, clock: ManualClock,
                                                             app_site: AppServer) -> None:
    with web.client() as http:
        client_id, practitioner, _ = smart_site(web, http, "doc@example.com", app_site.redirect_uri)
    _standalone(web, page, app_site, "doc@example.com", clock, None, client_id, practitioner)


def test_a_standalone_launch_with_totp_picks_the_patient(web: LiveServer, page: Any, clock: ManualClock,
                                                          app_site: AppServer) -> None:
    with web.client() as http:
        client_id, practitioner, otp = smart_site(web, http, "tom@example.com", app_site.redirect_uri, totp_clock=clock)
    assert otp is not None
    _standalone(web, page, app_site, "tom@example.com", clock, otp, client_id, practitioner)


def test_denying_on_the_picker_sends_access_denied_to_the_app(web: LiveServer, page: Any,
                                                               app_site: AppServer) -> None:
    """Deny needs no patient chosen (the radios are ``required``, the Deny button ``formnovalidate``)."""
    with web.client() as http:
        client_id, _, _ = smart_site(web, http, "doc@example.com", app_site.redirect_uri)
        flow = Flow(web, http, client_id, scope=SCOPE, redirect_uri=app_site.redirect_uri)
        _go_authorize(page, web, flow)
        sign_in(page, "doc@example.com")
        page.wait_for_selector("text=Choose the patient")
        page.click("#deny")
        page.wait_for_selector("text=Example App")
    got = query_of(app_site.seen[-1])
    assert got["error"] == "access_denied" and got["state"] == flow.state and got["iss"] == web.settings.issuer
    assert "code" not in got


def test_a_cross_site_post_of_the_consent_form_is_refused(web: LiveServer, page: Any, app_site: AppServer) -> None:
    with web.client() as http:
        client_id, _, _ = smart_site(web, http, "doc@example.com", app_site.redirect_uri)
        flow = Flow(web, http, client_id, scope=SCOPE, redirect_uri=app_site.redirect_uri)
        _go_authorize(page, web, flow)
        sign_in(page, "doc@example.com")
        page.wait_for_selector("text=Choose the patient")
        request = page.input_value("input[name=request]")  # what an attacker could rebuild: no secret in it
    page.goto("about:blank")  # another (opaque) origin posts the form in the signed-in browser
    page.set_content(f"""<form method="post" action="{web.url}/smart/authorize">
        <input name="request" value="{request.replace('"', '&quot;')}"><input name="decision" value="allow">
        <input name="patient" value="alice-1"><button id="go">go</button></form>""")
    with page.expect_navigation():
        page.click("#go")
    assert "Forms of this site cannot be submitted from another site" in page.content()
    assert app_site.seen == []  # the browser was never sent to the app


def test_an_unregistered_redirect_uri_shows_the_error_page_and_never_redirects(web: LiveServer, page: Any,
                                                                               app_site: AppServer) -> None:
    with web.client() as http:
        client_id, _, _ = smart_site(web, http, "doc@example.com", app_site.redirect_uri)
        flow = Flow(web, http, client_id, scope=SCOPE, redirect_uri=app_site.origin + "/elsewhere")
        response = _go_authorize(page, web, flow)
    assert response.status == 400
    page.wait_for_selector("h1")
    assert "redirect" in page.inner_text("main").lower()
    shot(page, "smart-error")
    assert app_site.seen == [] and page.url.startswith(web.url)
