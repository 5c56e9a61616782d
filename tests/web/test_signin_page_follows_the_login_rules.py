"""``/signin`` runs the checks of ``/auth/login``: the same lockout (shared counters), the TOTP step with
recovery codes, disabled accounts, the same audit events; ``next`` only ever leads to a local path."""

from __future__ import annotations

import pytest

from tests.browser.helpers import user_with_totp
from tests.people.helpers import PASSWORD, audit_events, login, make_user
from tests.support import LiveServer, make_settings
from tests.web.helpers import csrf_of, mfa_token_of, page_signin, session_cookie
from tokensmith.clock import ManualClock

SAME = {"sec-fetch-site": "same-origin"}


def test_wrong_passwords_lock_the_account_for_the_page_and_the_api_alike(server: LiveServer) -> None:
    make_user(server, "lou@example.com")
    max_failures = server.settings.login_max_failures
    with server.client() as http:
        for _ in range(max_failures - 1):
            assert page_signin(http, "lou@example.com", "wrong wrong wrong").status_code == 401
        assert login(http, "lou@example.com", "wrong wrong wrong").status_code == 401  # the API counts too
        locked = page_signin(http, "lou@example.com")  # even the right password now
        api = login(http, "lou@example.com")
    assert locked.status_code == 429 and "Too many sign-in attempts" in locked.text
    assert int(locked.headers["retry-after"]) > 0
    assert api.status_code == 429
    types = [e["type"] for e in audit_events(server, "login.")]
    assert types.count("login.failed") == max_failures and "login.locked_out" in types


def test_the_totp_step_accepts_a_recovery_code_once(sqlite_url: str) -> None:
    from tokensmith.people import totp

    clock = ManualClock()
    with LiveServer(make_settings(sqlite_url), clock=clock) as server:
        user, _ = user_with_totp(server, clock, "rita@example.com")
        codes = server.call(lambda rt: totp.regenerate_recovery_codes(rt, user.id, _.at(clock.now())))
        clock.advance(30)
        with server.client() as http:
            step = page_signin(http, "rita@example.com")
            assert step.status_code == 200 and session_cookie(http) is None
            form = {"csrf_token": csrf_of(step.text), "mfa_token": mfa_token_of(step.text), "next": ""}
            done = http.post("/signin", data={**form, "code": codes[0]}, headers=SAME)
            assert done.status_code == 303 and session_cookie(http)
        with server.client() as http:
            step = page_signin(http, "rita@example.com")
            again = http.post("/signin", data={"csrf_token": csrf_of(step.text), "mfa_token": mfa_token_of(step.text),
                                               "code": codes[0]}, headers=SAME)
            assert again.status_code == 401 and "Invalid authentication code" in again.text
        types = [e["type"] for e in audit_events(server)]
        assert "login.mfa_required" in types and "user.recovery_code_used" in types


def test_a_disabled_account_is_refused_after_the_right_password(server: LiveServer) -> None:
    from tokensmith.people.users import update_user

    user = make_user(server, "dan@example.com")
    server.call(lambda rt: update_user(rt, user.id, tenant_id=server.tenant_id, status="disabled", actor="test"))
    with server.client() as http:
        resp = page_signin(http, "dan@example.com")
    assert resp.status_code == 403 and "This account is disabled" in resp.text
    assert session_cookie(http) is None


def test_a_page_sign_in_records_the_events_of_auth_login(server: LiveServer) -> None:
    user = make_user(server, "amy@example.com")
    with server.client() as http:
        assert page_signin(http, "amy@example.com").status_code == 303
    events = {e["type"]: e for e in audit_events(server)}
    succeeded = events["login.succeeded"]
    assert succeeded["subject"] == user.id and succeeded["data"]["method"] == "password"
    assert succeeded["data"]["channel"] == "browser"
    assert events["session.created"]["data"]["kind"] == "browser"


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example",
                                    "javascript:alert(1)", "evil", "/ok evil", ""])
def test_next_never_leaves_the_site(server: LiveServer, target: str) -> None:
    make_user(server, "ned@example.com")
    with server.client() as http:
        resp = page_signin(http, "ned@example.com", next_path=target)
    assert resp.status_code == 303
    assert resp.headers["location"] == "/signin"


def test_a_next_with_control_characters_is_refused_at_the_edge(server: LiveServer) -> None:
    make_user(server, "ned@example.com")
    with server.client() as http:
        resp = page_signin(http, "ned@example.com", next_path="/ok\r\nSet-Cookie: x=y")
    assert resp.status_code == 400 and "set-cookie" not in resp.headers


def test_next_goes_to_a_local_path(server: LiveServer) -> None:
    make_user(server, "ned@example.com")
    with server.client() as http:
        resp = page_signin(http, "ned@example.com", next_path="/oauth/authorize?client_id=x&state=a%20b")
        assert resp.headers["location"] == "/oauth/authorize?client_id=x&state=a%20b"
        form = http.get("/signin", params={"next": "/somewhere"})
    assert form.status_code == 303 and form.headers["location"] == "/somewhere"  # signed in already


def test_the_same_password_is_kept_out_of_the_page(server: LiveServer) -> None:
    make_user(server, "pat@example.com")
    with server.client() as http:
        resp = page_signin(http, "pat@example.com", "wrong wrong wrong")
    assert resp.status_code == 401 and "wrong wrong wrong" not in resp.text
    assert PASSWORD not in resp.text
