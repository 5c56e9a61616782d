"""TOTP second factor: set-up, the two-step sign-in (``mfaRequired`` → ``POST /auth/login/totp``),
wrong and replayed codes, single-use recovery codes, single-use and expiring ``mfaToken``s, wrong codes
counting towards the lockout, and switching it off."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pyotp
import pytest

from tests.people.helpers import PASSWORD, audit_types, bearer, login, make_user, tokens, user_row
from tests.support import LiveServer
from tokensmith.clock import ManualClock

INVALID_CODE = {"error": "Invalid authentication code"}
INVALID_MFA = {"error": "Invalid or expired MFA token"}


class Totp:
    """An authenticator app on the server's clock."""

    def __init__(self, secret: str, clock: ManualClock) -> None:
        self.totp = pyotp.TOTP(secret)
        self.clock = clock

    def code(self) -> str:
        return self.totp.at(self.clock.now())

    def next_step(self) -> str:
        self.clock.advance(30)
        return self.code()


def _enable(http: httpx.Client, access: str, clock: ManualClock) -> tuple[Totp, list[str]]:
    setup = http.post("/auth/totp/setup", headers=bearer(access))
    assert setup.status_code == 200, setup.text
    body = setup.json()
    assert body["otpauthUri"].startswith("otpauth://totp/tokensmith:")
    assert f"secret={body['secret']}" in body["otpauthUri"]
    app = Totp(body["secret"], clock)
    wrong = http.post("/auth/totp/enable", json={"code": "000000" if app.code() != "000000" else "111111"},
                      headers=bearer(access))
    assert wrong.status_code == 400
    enabled = http.post("/auth/totp/enable", json={"code": app.code()}, headers=bearer(access))
    assert enabled.status_code == 200, enabled.text
    codes = enabled.json()["recoveryCodes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    return app, codes


def _challenge(http: httpx.Client, email: str) -> str:
    resp = login(http, email)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["mfaRequired"] is True and body["expiresIn"] == "300s"
    assert "accessToken" not in body and "refreshToken" not in body
    token: str = body["mfaToken"]
    return token


def _second_step(http: httpx.Client, mfa_token: str, code: str) -> httpx.Response:
    return http.post("/auth/login/totp", json={"mfaToken": mfa_token, "code": code})


@pytest.fixture
def totp_user(any_server_with: Callable[..., LiveServer]) -> Any:
    clock = ManualClock(start=1_900_000_000.0)
    server = any_server_with(clock=clock)
    make_user(server, "mfa@example.com")
    with server.client() as http:
        access = tokens(http, "mfa@example.com")["accessToken"]
        app, codes = _enable(http, access, clock)
    return server, clock, app, codes


def test_sign_in_needs_a_valid_code_after_the_password(totp_user: Any) -> None:
    server, _clock, app, _ = totp_user
    with server.client() as http:
        mfa = _challenge(http, "mfa@example.com")
        wrong = _second_step(http, mfa, "123456" if app.code() != "123456" else "654321")
        replayed = _second_step(http, mfa, app.code())  # this step's code was used to enable TOTP
        fresh = _second_step(http, mfa, app.next_step())
        assert wrong.status_code == 401 and wrong.json() == INVALID_CODE
        assert replayed.status_code == 401 and replayed.json() == INVALID_CODE
        assert fresh.status_code == 200, fresh.text
        body = fresh.json()
        assert set(body) == {"accessToken", "refreshToken", "expiresIn"}
        assert http.get("/users/me", headers=bearer(body["accessToken"])).json()["totpEnabled"] is True
        # the mfaToken is single use
        assert _second_step(http, mfa, app.next_step()).json() == INVALID_MFA
    assert "login.mfa_required" in audit_types(server, "login.")


def test_a_code_is_accepted_once(totp_user: Any) -> None:
    server, _clock, app, _ = totp_user
    code = app.next_step()
    with server.client() as http:
        first = _second_step(http, _challenge(http, "mfa@example.com"), code)
        second = _second_step(http, _challenge(http, "mfa@example.com"), code)
    assert first.status_code == 200
    assert second.status_code == 401 and second.json() == INVALID_CODE


def test_codes_of_the_neighbouring_steps_are_accepted_but_not_older_ones(totp_user: Any) -> None:
    server, clock, app, _ = totp_user
    clock.advance(300)
    previous = app.totp.at(clock.now() - 30)
    too_old = app.totp.at(clock.now() - 90)
    with server.client() as http:
        assert _second_step(http, _challenge(http, "mfa@example.com"), too_old).status_code == 401
        assert _second_step(http, _challenge(http, "mfa@example.com"), previous).status_code == 200


def test_recovery_codes_work_once(totp_user: Any) -> None:
    server, _clock, _app, codes = totp_user
    with server.client() as http:
        used = _second_step(http, _challenge(http, "mfa@example.com"), codes[0].upper())
        again = _second_step(http, _challenge(http, "mfa@example.com"), codes[0])
        other = _second_step(http, _challenge(http, "mfa@example.com"), codes[1].replace("-", ""))
    assert used.status_code == 200
    assert again.status_code == 401 and again.json() == INVALID_CODE
    assert other.status_code == 200
    assert len(user_row(server, "mfa@example.com").recovery_codes) == 8
    assert "user.recovery_code_used" in audit_types(server, "user.")


def test_mfa_tokens_expire(totp_user: Any) -> None:
    server, clock, app, _ = totp_user
    with server.client() as http:
        mfa = _challenge(http, "mfa@example.com")
        clock.advance(301)
        resp = _second_step(http, mfa, app.code())
    assert resp.status_code == 401 and resp.json() == INVALID_MFA


def test_wrong_codes_lock_the_account(totp_user: Any) -> None:
    server, _clock, app, _ = totp_user
    with server.client() as http:
        mfa = _challenge(http, "mfa@example.com")
        bad = "000000" if app.code() != "000000" else "111111"
        statuses = [_second_step(http, mfa, bad).status_code for _ in range(5)]
        locked = _second_step(http, mfa, app.next_step())
        password_too = login(http, "mfa@example.com")
    assert statuses == [401] * 5
    assert locked.status_code == 429
    assert password_too.status_code == 429


def test_a_correct_password_does_not_reset_the_failure_series(totp_user: Any) -> None:
    """Otherwise whoever knows the password could try five codes per sign-in, forever."""
    server, _clock, app, _ = totp_user
    bad = "000000" if app.code() != "000000" else "111111"
    with server.client() as http:
        for _ in range(3):
            assert login(http, "mfa@example.com", "wrong password!").status_code == 401
        mfa = _challenge(http, "mfa@example.com")
        assert _second_step(http, mfa, bad).status_code == 401
        assert _second_step(http, mfa, bad).status_code == 401
        assert _second_step(http, mfa, app.next_step()).status_code == 429


def test_switching_totp_off_needs_a_code(totp_user: Any) -> None:
    server, _clock, app, codes = totp_user
    with server.client() as http:
        pair = _second_step(http, _challenge(http, "mfa@example.com"), codes[5]).json()
        access = pair["accessToken"]
        assert http.post("/auth/totp/disable", json={"code": "999999"}, headers=bearer(access)).status_code == 400
        assert http.post("/auth/totp/disable", json={"code": app.next_step()},
                         headers=bearer(access)).status_code == 204
        after = login(http, "mfa@example.com")
    assert set(after.json()) == {"accessToken", "refreshToken", "expiresIn"}
    assert "user.totp_disabled" in audit_types(server, "user.")


def test_setup_and_enable_need_a_user(server: LiveServer) -> None:
    record, secret = server.create_client(scopes=["*"])
    with server.client() as http:
        access = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                           auth=(record.client_id, secret)).json()["access_token"]
        as_client = http.post("/auth/totp/setup", headers=bearer(access))
        anonymous = http.post("/auth/totp/setup")
    assert as_client.status_code == 403
    assert anonymous.status_code == 401


def test_the_secret_is_stored_sealed(totp_user: Any) -> None:
    server, _clock, app, codes = totp_user
    row = user_row(server, "mfa@example.com")
    assert app.totp.secret.encode() not in row.totp_secret_enc
    assert not set(codes) & set(row.recovery_codes)
    assert PASSWORD.encode() not in (row.password_hash or "").encode()
