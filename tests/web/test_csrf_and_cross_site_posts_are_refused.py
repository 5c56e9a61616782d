"""Every POST of the pages needs the CSRF token of its binding (the pre-session cookie before sign-in,
the browser session after), and a POST the browser marks cross-site is refused before anything else."""

from __future__ import annotations

import httpx
import pytest

from tests.people.helpers import PASSWORD, make_user
from tests.support import LiveServer
from tests.web.helpers import csrf_of, session_cookie, signed_in

SAME = {"sec-fetch-site": "same-origin"}


def _form(http: httpx.Client, email: str = "cat@example.com") -> dict[str, str]:
    page = http.get("/signin")
    return {"csrf_token": csrf_of(page.text), "email": email, "password": PASSWORD}


def test_a_sign_in_without_or_with_a_wrong_csrf_token_is_refused(server: LiveServer) -> None:
    make_user(server, "cat@example.com")
    with server.client() as http:
        form = _form(http)
        missing = http.post("/signin", data={k: v for k, v in form.items() if k != "csrf_token"}, headers=SAME)
        wrong = http.post("/signin", data={**form, "csrf_token": "0" * 64}, headers=SAME)
        assert missing.status_code == wrong.status_code == 403
        assert "The form has expired or did not come from this site" in wrong.text
        assert wrong.headers["content-type"].startswith("text/html")
        assert session_cookie(http) is None
        assert http.post("/signin", data=form, headers=SAME).status_code == 303  # the real token works


def test_a_token_from_another_browser_is_worthless(server: LiveServer) -> None:
    make_user(server, "cat@example.com")
    with server.client() as attacker, server.client() as victim:
        stolen = _form(attacker)
        victim.get("/signin")  # the victim has a pre-session cookie of its own
        resp = victim.post("/signin", data=stolen, headers=SAME)
    assert resp.status_code == 403


def test_sign_out_needs_the_token_of_the_session(server: LiveServer) -> None:
    make_user(server, "cat@example.com")
    with server.client() as http:
        presession_token = csrf_of(http.get("/signin").text)
        signed_in(http, "cat@example.com")
        refused = http.post("/signout", data={"csrf_token": presession_token}, headers=SAME)
        assert refused.status_code == 403
        assert "You are signed in" in http.get("/signin").text
        good = http.post("/signout", data={"csrf_token": csrf_of(http.get("/signin").text)}, headers=SAME)
        assert good.status_code == 303 and good.headers["location"] == "/signin"
        assert session_cookie(http) is None


@pytest.mark.parametrize("headers", [
    {"sec-fetch-site": "cross-site"},
    {"sec-fetch-site": "same-site"},
    {"origin": "https://evil.example"},
    {"origin": "http://127.0.0.1:1"},
])
def test_cross_site_posts_are_refused_even_with_a_valid_token(server: LiveServer, headers: dict[str, str]) -> None:
    make_user(server, "cat@example.com")
    with server.client() as http:
        resp = http.post("/signin", data=_form(http), headers=headers)
        assert resp.status_code == 403
        assert "cannot be submitted from another site" in resp.text
        assert session_cookie(http) is None


def test_own_origin_and_origin_null_pass_to_the_csrf_check(server: LiveServer) -> None:
    """``Origin: null`` is what Chromium sends for this site's own forms under ``no-referrer``."""
    make_user(server, "cat@example.com")
    with server.client() as http:
        assert http.post("/signin", data=_form(http), headers={"origin": server.url}).status_code == 303
    with server.client() as http:
        assert http.post("/signin", data=_form(http), headers={"origin": "null"}).status_code == 303


def test_control_characters_in_a_form_are_a_400_page(server: LiveServer) -> None:
    with server.client() as http:
        form = _form(http, email="cat\x01@example.com")
        resp = http.post("/signin", data=form, headers=SAME)
    assert resp.status_code == 400
    assert resp.headers["content-type"].startswith("text/html")
    assert "control characters" in resp.text
