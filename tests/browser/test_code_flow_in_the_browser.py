"""The code flow in Chromium: authorize → sign in (without and with TOTP) → consent → redirect to the
app with the code → token with PKCE → refresh → revoke. Each page is saved to ``docs/screenshots/`` (with
TOKENSMITH_UPDATE_SCREENSHOTS=1; else to a tmp dir). The
app's redirect URI is answered by the test (``page.route``), so the browser really follows the redirect
that the consent form's CSP ``form-action`` must allow."""

from __future__ import annotations

from typing import Any

from tests.browser.helpers import shot, sign_in, user_with_totp
from tests.codeflow.helpers import REDIRECT, Flow, code_client, query_of
from tests.people.helpers import introspect, make_user
from tests.support import LiveServer
from tokensmith.clock import ManualClock


def _app_callback(page: Any) -> list[str]:
    seen: list[str] = []

    def answer(route: Any) -> None:
        seen.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<h1>Example App</h1>")

    page.route("https://app.example/**", answer)
    return seen


def _finish(web: LiveServer, flow: Flow, callback: str) -> None:
    got = query_of(callback)
    assert got["state"] == flow.state and got["iss"] == web.settings.issuer
    token = flow.exchange(got["code"])
    assert token.status_code == 200, token.text
    body = token.json()
    refreshed = flow.refresh(body["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    access = refreshed.json()["access_token"]
    assert introspect(web, flow.http, access)["active"] is True
    revoked = flow.http.post("/oauth/revoke", data={"token": access, "client_id": flow.client_id})
    assert revoked.status_code == 200
    assert introspect(web, flow.http, access)["active"] is False


def test_code_flow_without_totp(web: LiveServer, page: Any) -> None:
    make_user(web, "doc@example.com", role="developer")
    record, _ = code_client(web)
    seen = _app_callback(page)
    with web.client() as http:
        flow = Flow(web, http, record.client_id)
        page.goto(f"{web.url}/oauth/authorize?" + "&".join(f"{k}={v}" for k, v in flow.params().items()))
        page.wait_for_selector("#password")
        shot(page, "01-signin")
        sign_in(page, "doc@example.com")
        page.wait_for_selector("#allow")
        shot(page, "02-consent")
        page.click("#allow")
        page.wait_for_selector("text=Example App")
        assert seen and seen[-1].startswith(REDIRECT + "?")
        _finish(web, flow, seen[-1])


def test_code_flow_with_totp(web: LiveServer, page: Any, clock: ManualClock) -> None:
    _, app = user_with_totp(web, clock, "tom@example.com", role="developer")
    record, _ = code_client(web)
    seen = _app_callback(page)
    with web.client() as http:
        flow = Flow(web, http, record.client_id)
        page.goto(f"{web.url}/oauth/authorize?" + "&".join(f"{k}={v}" for k, v in flow.params().items()))
        sign_in(page, "tom@example.com")
        page.wait_for_selector("#code")
        shot(page, "03-signin-totp")
        page.fill("#code", app.at(clock.now()))
        page.click("button[type=submit]")
        page.wait_for_selector("#allow")
        page.click("#allow")
        page.wait_for_selector("text=Example App")
        _finish(web, flow, seen[-1])


def test_an_unknown_client_shows_the_error_page(web: LiveServer, page: Any) -> None:
    page.goto(f"{web.url}/oauth/authorize?client_id=nobody&response_type=code")
    page.wait_for_selector("text=not known here")
    shot(page, "04-error")
