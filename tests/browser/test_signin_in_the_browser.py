"""Browser sign-in in a real Chromium: with and without TOTP, a wrong password, sign-out, a cross-site
form POST, and the headers and cookie every page relies on (CSP without inline code, no framing)."""

from __future__ import annotations

from typing import Any

from tests.browser.helpers import assert_no_inline_code, sign_in, user_with_totp
from tests.people.helpers import make_user
from tests.support import LiveServer
from tokensmith.clock import ManualClock


def _assert_page_headers(response: Any) -> None:
    headers = response.headers
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "script-src" not in csp
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"


def test_sign_in_without_totp_gives_an_httponly_lax_session_cookie(web: LiveServer, page: Any) -> None:
    make_user(web, "ana@example.com")
    response = page.goto(f"{web.url}/signin?next=/signin")
    _assert_page_headers(response)
    assert_no_inline_code(page.content())
    sign_in(page, "ana@example.com")
    page.wait_for_selector("text=You are signed in as")
    assert page.url == f"{web.url}/signin"
    assert_no_inline_code(page.content())
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["tokensmith_session"]
    assert session["httpOnly"] is True and session["sameSite"] == "Lax" and session["path"] == "/"
    assert session["secure"] is False  # development on plain http (production: see test_cookies_and_csrf)
    assert cookies["tokensmith_presession"]["httpOnly"] is True
    assert page.evaluate("document.cookie") == ""  # nothing readable by scripts


def test_sign_in_with_totp_asks_for_the_code_then_signs_in(web: LiveServer, page: Any,
                                                            clock: ManualClock) -> None:
    _, app = user_with_totp(web, clock, "tom@example.com")
    page.goto(f"{web.url}/signin")
    sign_in(page, "tom@example.com")
    page.wait_for_selector("#code")
    assert_no_inline_code(page.content())
    page.fill("#code", "000000" if app.at(clock.now()) != "000000" else "111111")
    page.click("button[type=submit]")
    page.wait_for_selector("text=Invalid authentication code")
    page.fill("#code", app.at(clock.now()))
    page.click("button[type=submit]")
    page.wait_for_selector("text=You are signed in as")
    assert "tom@example.com" in page.content()


def test_wrong_password_shows_the_same_error_as_an_unknown_email(web: LiveServer, page: Any) -> None:
    make_user(web, "wes@example.com")
    page.goto(f"{web.url}/signin")
    sign_in(page, "wes@example.com", "not the password at all")
    page.wait_for_selector("text=Invalid email or password")
    assert page.input_value("#email") == "wes@example.com" and page.input_value("#password") == ""
    sign_in(page, "nobody@example.com", "not the password at all")
    page.wait_for_selector("text=Invalid email or password")
    assert "tokensmith_session" not in {c["name"] for c in page.context.cookies()}


def test_sign_out_ends_the_session(web: LiveServer, page: Any) -> None:
    make_user(web, "sam@example.com")
    page.goto(f"{web.url}/signin")
    sign_in(page, "sam@example.com")
    page.wait_for_selector("text=You are signed in as")
    page.click("text=Sign out")
    page.wait_for_selector("#password")
    assert "tokensmith_session" not in {c["name"] for c in page.context.cookies()}
    page.goto(f"{web.url}/signin")
    assert page.locator("#password").count() == 1  # signed out: the form again


def test_a_form_posted_from_another_site_is_refused(web: LiveServer, page: Any) -> None:
    make_user(web, "eve@example.com")
    page.goto(f"{web.url}/signin")  # the browser holds this site's pre-session cookie
    page.goto("about:blank")  # another origin (an opaque one) posts the form
    page.set_content(f"""<form method="post" action="{web.url}/signin">
        <input name="email" value="eve@example.com"><input name="password" value="x">
        <button id="go">go</button></form>""")
    with page.expect_navigation():
        page.click("#go")
    assert "Forms of this site cannot be submitted from another site" in page.content()
    assert "tokensmith_session" not in {c["name"] for c in page.context.cookies()}
