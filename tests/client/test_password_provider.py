"""``PasswordAuth`` (spec §D): ``/auth/login``, then ``/auth/refresh`` rotation; a refused refresh token
(its session revoked) leads to a new sign-in by itself; TOTP through a callback, or a clear
``MfaRequired``; wrong credentials ``InvalidCredentials`` with the server's message."""

from __future__ import annotations

import time

import httpx
import pyotp
import pytest

from tests.client.helpers import PASSWORD, FakeClock, make_user, user_auth
from tests.support import LiveServer
from tokensmith.client import InvalidCredentials, MfaRequired, Options, PasswordAuth, TokensmithAdmin


def test_a_revoked_session_leads_to_a_new_sign_in(any_server: LiveServer) -> None:
    clock = FakeClock(time.time())
    with user_auth(any_server, "admin@example.com", options=Options(clock=clock)) as auth, \
            TokensmithAdmin(issuer=any_server.url, auth=auth) as admin:
        first_session = next(s["id"] for s in admin.list_sessions() if s["current"])
        admin.revoke_session(first_session)  # its access and refresh tokens die with it
        # the API refuses the token (401) → refresh refused (401) → sign in again → the call succeeds
        sessions = admin.list_sessions()
        assert first_session not in {s["id"] for s in sessions if s["revokedAt"] is None}
        assert auth.token_requests == 2
        clock.advance(900)
        assert admin.list_users()[0]["email"] == "admin@example.com" and auth.token_requests == 3


def test_wrong_credentials_are_invalid_credentials(server: LiveServer) -> None:
    make_user(server, "someone@example.com")
    with PasswordAuth(issuer=server.url, email="someone@example.com", password="wrong password!") as auth, \
            pytest.raises(InvalidCredentials) as caught:
        auth.token()
    assert caught.value.status == 401 and caught.value.message == "Invalid email or password"


def _enable_totp(server: LiveServer, email: str) -> pyotp.TOTP:
    make_user(server, email, role="admin")
    with httpx.Client(base_url=server.url) as http:
        access = http.post("/auth/login", json={"email": email, "password": PASSWORD}).json()["accessToken"]
        headers = {"Authorization": f"Bearer {access}"}
        secret = http.post("/auth/totp/setup", headers=headers).json()["secret"]
        totp = pyotp.TOTP(secret)
        assert http.post("/auth/totp/enable", json={"code": totp.now()}, headers=headers).status_code == 200
    return totp


def test_totp_accounts_sign_in_through_the_callback(server: LiveServer) -> None:
    totp = _enable_totp(server, "mfa@example.com")
    codes: list[str] = []

    def code() -> str:
        codes.append(totp.at(time.time() + 30))  # the next step: the setup's code was used already
        return codes[-1]

    with PasswordAuth(issuer=server.url, email="mfa@example.com", password=PASSWORD, totp=code) as auth, \
            httpx.Client(base_url=server.url, auth=auth) as api:
        assert api.get("/users/me").json()["totpEnabled"] is True
    assert len(codes) == 1


async def test_totp_accounts_without_a_callback_raise_mfa_required(server: LiveServer) -> None:
    _enable_totp(server, "mfa2@example.com")
    async with PasswordAuth(issuer=server.url, email="mfa2@example.com", password=PASSWORD) as auth:
        with pytest.raises(MfaRequired, match="totp"):
            await auth.atoken()


def test_logout_ends_the_session(server: LiveServer) -> None:
    with user_auth(server, "leaver@example.com") as auth:
        token = auth.token()
        auth.logout()
        assert auth._refresh_token is None
        resp = httpx.get(f"{server.url}/users/me", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 401
