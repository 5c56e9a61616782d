"""My account: the password change (wrong current password and mismatched confirmation shown next to
their fields), two-factor set-up with a server-drawn SVG QR code then a first code (recovery codes shown
once), personal user tokens (created, exchanged, revoked with confirmation), and my sessions."""

from __future__ import annotations

import re

import pyotp

from tests.console.helpers import assert_no_inline_code, client_as, post, secret_of
from tests.people.helpers import PASSWORD
from tests.support import LiveServer
from tests.web.helpers import page_signin, signed_in


def test_password_change_checks_the_current_password_and_the_confirmation(server: LiveServer) -> None:
    new = "another long passphrase 42"
    with client_as(server, "pat@example.com", "member") as http:
        wrong = post(http, "/console/account/password", {"current_password": "nope", "new_password": new,
                                                         "confirm_password": new})
        assert wrong.status_code == 400 and 'id="e-current_password"' in wrong.text
        differ = post(http, "/console/account/password", {"current_password": PASSWORD, "new_password": new,
                                                          "confirm_password": new + "x"})
        assert differ.status_code == 400 and 'id="e-confirm_password"' in differ.text
        short = post(http, "/console/account/password", {"current_password": PASSWORD, "new_password": "short",
                                                         "confirm_password": "short"})
        assert short.status_code == 400 and 'id="e-new_password"' in short.text
        done = post(http, "/console/account/password", {"current_password": PASSWORD, "new_password": new,
                                                        "confirm_password": new})
        assert done.status_code == 303
        assert "Your password is changed" in http.get(done.headers["location"]).text
    with server.client() as fresh:
        assert page_signin(fresh, "pat@example.com", PASSWORD).status_code == 401
        assert page_signin(fresh, "pat@example.com", new).status_code == 303


def test_totp_set_up_shows_an_svg_qr_code_then_the_recovery_codes_once(server: LiveServer) -> None:
    with client_as(server, "pat@example.com", "member") as http:
        setup = post(http, "/console/account/totp/setup", form_page="/console/account")
        assert setup.status_code == 200
        assert '<svg viewBox="0 0' in setup.text and 'class="qr"' in setup.text
        assert_no_inline_code(setup.text)
        secret = re.search(r"Key: <code>([A-Z2-7]+)</code>", setup.text).group(1)  # type: ignore[union-attr]
        bad = post(http, "/console/account/totp/enable", {"code": "000000"
                                                          if pyotp.TOTP(secret).now() != "000000" else "111111"})
        assert bad.status_code == 400 and 'id="e-code"' in bad.text
        good = post(http, "/console/account/totp/enable", {"code": pyotp.TOTP(secret).now()})
        assert good.status_code == 200 and "shown only this once" in good.text
        assert len(re.findall(r"<li><code>", good.text)) >= 8
        assert "Two-factor authentication" in http.get("/console/account").text
        assert 'class="badge ok">on' in http.get("/console/account").text


def test_a_user_token_is_shown_once_works_and_is_revoked_after_confirmation(server: LiveServer) -> None:
    with client_as(server, "pat@example.com", "member") as http:
        created = post(http, "/console/account/tokens", {"name": "cron"}, form_page="/console/account")
        assert created.status_code == 200 and created.headers["cache-control"] == "no-store"
        token = secret_of(created.text)
        ok = http.post("/api/user/oauth2/token", data={"grant_type": "refresh_token", "refresh_token": token})
        assert ok.status_code == 200 and ok.json()["refresh_token"] == token
        account = http.get("/console/account").text
        assert "cron" in account and token not in account
        token_id = re.search(r'/console/account/tokens/([^/]+)/revoke', account).group(1)  # type: ignore[union-attr]
        assert post(http, f"/console/account/tokens/{token_id}/revoke", {}).status_code == 400
        assert post(http, f"/console/account/tokens/{token_id}/revoke", {"confirm": "yes"}).status_code == 303
        gone = http.post("/api/user/oauth2/token", data={"grant_type": "refresh_token", "refresh_token": token})
        assert gone.status_code == 410


def test_my_other_sessions_are_revoked_through_a_confirmation_page(server: LiveServer) -> None:
    with client_as(server, "pat@example.com", "member") as http, server.client() as phone:
        signed_in(phone, "pat@example.com")
        account = http.get("/console/account").text
        other = re.search(r'href="/console/account/sessions/([^/]+)/revoke">Revoke', account).group(1)  # type: ignore[union-attr]
        confirm = http.get(f"/console/account/sessions/{other}/revoke")
        assert confirm.status_code == 200 and "Revoke this session?" in confirm.text
        assert "pat@example.com" in confirm.text and 'name="confirm"' in confirm.text
        path = f"/console/account/sessions/{other}/revoke"
        assert post(http, path, {}, form_page=path).status_code == 400
        assert phone.get("/console").status_code == 200
        done = post(http, path, {"confirm": "yes"}, form_page=path)
        assert done.status_code == 303 and done.headers["location"] == "/console/account?done=session_revoked"
        assert phone.get("/console").status_code == 303  # the other browser is signed out
        assert http.get("/console").status_code == 200


def test_my_sessions_list_the_current_one_and_revoking_it_signs_out(server: LiveServer) -> None:
    with client_as(server, "pat@example.com", "member") as http:
        account = http.get("/console/account").text
        assert "this one" in account
        sid = re.search(r'/console/account/sessions/([^/]+)/revoke', account).group(1)  # type: ignore[union-attr]
        unconfirmed = post(http, f"/console/account/sessions/{sid}/revoke")
        assert unconfirmed.status_code == 400 and 'id="e-confirm"' in unconfirmed.text
        assert 'name="confirm" value="yes"' in account  # "Sign out here" posts its confirmation
        resp = post(http, f"/console/account/sessions/{sid}/revoke", {"confirm": "yes"})
        assert resp.status_code == 303 and resp.headers["location"] == "/signin"
        assert http.get("/console").status_code == 303
