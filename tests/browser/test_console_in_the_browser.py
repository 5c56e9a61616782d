"""The console in a real Chromium (headless, Debian's): sign in with TOTP, create an API key and use the
shown secret at ``/api/v1/token/``, revoke it (confirmed) and see the exchange fail with 401, create a
personal user token and exchange it at ``/api/user/oauth2/token``, register SMART apps (a backend service
whose try-it snippet gets a token as printed, a symmetric app's secret shown once) and import the
directory, rotate a signing key, filter the audit log, sign out. Each main page is saved to
``docs/screenshots/console-*.png``; the ``page`` fixture fails on any CSP violation (the copy button's
script is a static file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from tests.browser.helpers import shot, sign_in, user_with_totp
from tests.console.helpers import assert_no_inline_code
from tests.smart.helpers import ASSERTION_TYPE, KeyPair
from tests.support import LiveServer
from tokensmith.clock import ManualClock

EXCHANGE_BODY = {"user_id": "u-7", "first_name": "Ann", "last_name": "Lee", "organisation": "Clinic"}


def _sign_in_with_totp(web: LiveServer, page: Any, clock: ManualClock) -> None:
    _, app = user_with_totp(web, clock, "olga@example.com", role="owner")
    page.goto(f"{web.url}/console")
    assert "/signin" in page.url
    sign_in(page, "olga@example.com")
    page.fill("#code", app.at(clock.now()))
    page.click("button[type=submit]")
    page.wait_for_selector("nav.console-nav")
    assert page.url == f"{web.url}/console"


def _nav(page: Any, name: str) -> None:
    page.locator("nav.console-nav").get_by_role("link", name=name, exact=True).click()
    page.wait_for_selector(f"nav.console-nav a[aria-current=page]:text-is('{name}')")


def _settled(web: LiveServer) -> None:
    """Until the console's background counts and chain verification end (pages never wait for them)."""
    web.call(lambda rt: web.app.state.console_activity.refresher.wait())


def _main(page: Any) -> Any:
    return page.locator("#page")


def test_api_key_and_user_token_from_creation_to_use_and_revocation(web: LiveServer, page: Any,
                                                                     clock: ManualClock) -> None:
    _sign_in_with_totp(web, page, clock)
    _nav(page, "API keys")
    page.get_by_role("link", name="Create an API key").click()
    page.get_by_label("Name", exact=True).fill("clinic backend")
    page.get_by_label("Other scopes (within the ones above), separated by spaces").fill("Patient.read")
    page.get_by_role("button", name="Create the key").click()
    page.wait_for_selector("text=shown only this once")
    # the static script reveals the copy button once it has run (waited for: it runs after the page is shown)
    assert page.wait_for_selector("button.copy", state="visible", timeout=5_000) is not None
    shot(page, "console-api-key-secret")
    api_key = page.input_value("#api-key")
    with httpx.Client(base_url=web.url) as http:
        assert http.post("/api/v1/token/", json=EXCHANGE_BODY, headers={"X-Api-Key": api_key}).status_code == 200
    page.get_by_role("link", name="Go to the key").click()
    page.get_by_role("link", name="Revoke the key…").click()  # the confirmation page
    page.get_by_role("button", name="Revoke the key").click()  # the required checkbox stops the browser
    assert "The key is revoked." not in page.content()
    page.get_by_label("I understand: every request").check()
    page.get_by_role("button", name="Revoke the key").click()
    page.wait_for_selector("text=The key is revoked.")
    with httpx.Client(base_url=web.url) as http:
        refused = http.post("/api/v1/token/", json=EXCHANGE_BODY, headers={"X-Api-Key": api_key})
    assert refused.status_code == 401
    _nav(page, "API keys")
    page.get_by_role("link", name="Show revoked keys").click()
    page.wait_for_selector("text=clinic backend")
    shot(page, "console-api-keys")

    _nav(page, "My account")
    page.get_by_label("Name of the new token").fill("nightly export")
    page.get_by_role("button", name="Create a user token").click()
    page.wait_for_selector("text=shown only this once")
    token = page.input_value("#secret")
    with httpx.Client(base_url=web.url) as http:
        resp = http.post("/api/user/oauth2/token", data={"grant_type": "refresh_token", "refresh_token": token})
    assert resp.status_code == 200 and resp.json()["refresh_token"] == token and resp.json()["role"] == "owner"
    page.get_by_role("link", name="Back to my account").click()
    page.wait_for_selector("text=nightly export")
    shot(page, "console-account")


def test_keys_audit_and_the_other_pages_then_sign_out(web: LiveServer, page: Any, clock: ManualClock) -> None:
    _sign_in_with_totp(web, page, clock)
    web.create_client(name="reporting service", scopes=["Patient.read"])
    _settled(web)  # the sign-in's overview started the chart's count in the background
    response = page.goto(f"{web.url}/console")
    assert_no_inline_code(response.text())  # the server's HTML (the live DOM gains style="" on hidden inputs)
    page.wait_for_selector("text=Tokens issued per hour")
    shot(page, "console-overview")

    _nav(page, "Signing keys")
    before = page.locator("tr:has(.badge:text-is('active')) code").inner_text()
    page.get_by_role("button", name="Rotate now").click()
    page.wait_for_selector("text=Rotated: the next key signs now")
    assert page.locator(f"tr:has(code:text-is('{before}')) .badge").inner_text() == "retired"
    shot(page, "console-signing-keys")

    _nav(page, "Audit log")
    page.wait_for_selector("td code:text-is('session.created')")
    _settled(web)  # the chain is verified in the background (the first visit says so)
    page.get_by_label("Event type").fill("login.succeeded")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_selector("td code:text-is('login.succeeded')")
    types = set(page.locator("tbody td:nth-child(3)").all_inner_texts())
    assert types == {"login.succeeded"}
    assert page.input_value("#f-type") == "login.succeeded"
    assert page.locator(".badge:text-is('intact')").count() == 1
    shot(page, "console-audit")

    for name, file in (("OAuth clients", "console-clients"), ("Users", "console-users"),
                       ("Sessions", "console-sessions")):
        _nav(page, name)
        page.wait_for_selector("h1")
        shot(page, file)
    _nav(page, "OAuth clients")
    page.get_by_role("link", name="reporting service").click()
    page.wait_for_selector("text=grant_type=client_credentials")
    assert web.settings.issuer.rstrip("/") + "/oauth/token" in _main(page).inner_text()  # the configured issuer

    page.set_viewport_size({"width": 390, "height": 760})  # a phone
    _nav(page, "Overview")
    page.wait_for_selector("text=Tokens issued per hour")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(page, "console-phone")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_selector("#password")
    page.goto(f"{web.url}/console/api-keys")
    assert "/signin" in page.url


def test_smart_apps_and_the_directory(web: LiveServer, page: Any, clock: ManualClock, tmp_path: Path) -> None:
    _sign_in_with_totp(web, page, clock)
    _nav(page, "SMART apps")
    page.wait_for_selector("text=No SMART apps yet")
    page.get_by_role("link", name="Register a SMART app").click()
    page.get_by_label("Name", exact=True).fill("nightly export")
    page.get_by_label("Backend service (client_credentials, system/ scopes)").check()
    page.get_by_label("Scopes (separated by spaces)").fill("system/*.rs")
    page.get_by_label("Public JWK Set, as JSON").fill("{not json")  # an error next to the field first
    page.get_by_role("button", name="Register the app").click()
    page.wait_for_selector("#e-jwks")
    assert "not JSON" in page.inner_text("#e-jwks")
    key = KeyPair("ES384")
    page.get_by_label("Public JWK Set, as JSON").fill(json.dumps(key.jwks(), indent=2))
    page.get_by_role("button", name="Register the app").click()
    page.wait_for_selector("text=The app is registered.")
    snippet = page.locator("pre.snippet").inner_text()
    token_url = web.settings.issuer.rstrip("/") + "/smart/token"
    assert f"curl {token_url}" in snippet and f"client_assertion_type={ASSERTION_TYPE}" in snippet
    shot(page, "console-smart-app")
    client_id = page.locator("tr:has(th:text-is('client_id')) code").inner_text()
    with httpx.Client(base_url=web.url) as http:  # the snippet's request, with a real assertion
        resp = http.post("/smart/token", data={"grant_type": "client_credentials", "scope": "system/*.rs",
                                               "client_assertion_type": ASSERTION_TYPE,
                                               "client_assertion": key.assertion(client_id, token_url)})
    assert resp.status_code == 200, resp.text

    _nav(page, "SMART apps")
    page.get_by_role("link", name="Register a SMART app").click()
    page.get_by_label("Name", exact=True).fill("chart viewer")
    page.get_by_label("Confidential app with a client secret").check()
    page.get_by_label("Redirect URIs (one per line; not for a backend service)").fill(
        "https://viewer.example/cb\nhttp://127.0.0.1:8080/cb")  # two lines: the browser posts CR LF
    page.get_by_label("Scopes (separated by spaces)").fill("launch/patient patient/*.rs openid fhirUser")
    page.get_by_role("button", name="Register the app").click()
    page.wait_for_selector("text=shown only this once")
    assert page.wait_for_selector("button.copy", state="visible", timeout=5_000) is not None
    assert page.input_value("#secret") in page.locator("pre.snippet").nth(1).inner_text()
    assert "/smart/authorize?response_type=code" in page.locator("pre.snippet").first.inner_text()
    assert "http://127.0.0.1:8080/cb" in _main(page).inner_text()
    _nav(page, "SMART apps")
    page.wait_for_selector("text=chart viewer")
    shot(page, "console-smart-apps")

    _nav(page, "Directory")
    file = tmp_path / "patients.csv"
    file.write_text("id,given,family,birthDate\np-1,Ann Marie,Lee,1970-02-03\np-2,Ben,Ode,\n")
    page.set_input_files("#f-file", str(file))
    page.get_by_role("button", name="Import").click()
    page.wait_for_selector("text=Imported: 2 added, 0 updated.")
    page.get_by_label("Search (name words or the id)").fill("marie")
    page.get_by_role("button", name="Search").click()
    page.wait_for_selector("text=Ann Marie Lee")
    assert "Ben Ode" not in _main(page).inner_text()
    shot(page, "console-directory")
