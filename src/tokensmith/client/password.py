"""Sign-in for people (spec §D): ``/auth/login`` once, then ``/auth/refresh`` with the rotating refresh
token each time the access token is due; when the refresh token is refused (its session was revoked or
it expired) the provider signs in again with the password it holds.

Accounts with TOTP: pass ``totp=`` a callable that returns the current code (for a service account, e.g.
``pyotp.TOTP(seed).now``); without one such an account raises :class:`~tokensmith.client.errors.MfaRequired`.
The callable is called synchronously, also from the async flow.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import httpx

from tokensmith.client.base import TokenAuth
from tokensmith.client.errors import MfaRequired, ProtocolError, error_for
from tokensmith.client.flows import TokenFlow, json_object
from tokensmith.client.options import Options
from tokensmith.client.sensitive import Secret, secret
from tokensmith.client.tokens import AccessToken, TokenCache

JSON = {"Content-Type": "application/json", "Accept": "application/json"}
_DURATION = re.compile(r"^(\d{1,9})s?$")


def _seconds(value: object) -> float | None:
    """``"900s"`` (the spec's form) or a number."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and (match := _DURATION.match(value.strip())):
        return float(match.group(1))
    return None


def _post(url: str, body: dict[str, str]) -> httpx.Request:
    return httpx.Request("POST", url, content=json.dumps(body).encode(), headers=JSON)


class PasswordAuth(TokenAuth):
    def __init__(self, *, issuer: str, email: str, password: str | Secret,
                 totp: Callable[[], str] | None = None, options: Options | None = None) -> None:
        super().__init__(issuer, options)
        if not email:
            raise ValueError("email is required")
        self.email = email
        self._password = secret(password)
        self._totp = totp
        self._refresh_token: Secret | None = None
        self._tokens = TokenCache(self.options.clock)

    def _cache(self) -> TokenCache:
        return self._tokens

    def _flow(self) -> TokenFlow:
        if self._refresh_token is not None:
            response = yield _post(self.issuer + "/auth/refresh", {"refreshToken": self._refresh_token.reveal()})
            if response.status_code == 200:
                return self._issued(response)
            if response.status_code not in (401, 409):
                raise error_for(response, "refresh")
            self._refresh_token = None  # refused (session revoked, reused or expired): sign in again
        response = yield _post(self.issuer + "/auth/login",
                               {"email": self.email, "password": self._password.reveal()})
        if response.status_code != 200:
            raise error_for(response, "login")
        body = json_object(response)
        if body.get("mfaRequired") is True:
            mfa_token = body.get("mfaToken")
            if self._totp is None:
                raise MfaRequired("the account has TOTP on: give PasswordAuth a totp= callback", status=200)
            if not isinstance(mfa_token, str):
                raise ProtocolError("mfaRequired without an mfaToken", status=200)
            response = yield _post(self.issuer + "/auth/login/totp", {"mfaToken": mfa_token, "code": self._totp()})
            if response.status_code != 200:
                raise error_for(response, "login")
        return self._issued(response)

    def _issued(self, response: httpx.Response) -> AccessToken:
        now = self.options.clock()
        body = json_object(response)
        access, refresh = body.get("accessToken"), body.get("refreshToken")
        if not isinstance(access, str) or not access or not isinstance(refresh, str) or not refresh:
            raise ProtocolError("the sign-in response has no accessToken or refreshToken", status=200)
        self._refresh_token = Secret(refresh)
        return AccessToken.issued(access, now=now, lifetime=_seconds(body.get("expiresIn")), options=self.options)

    def _logout_request(self) -> httpx.Request | None:
        token, self._refresh_token = self._refresh_token, None
        self._tokens.clear()
        return None if token is None else _post(self.issuer + "/auth/logout", {"refreshToken": token.reveal()})

    def logout(self) -> None:
        """End the session on the server (``/auth/logout``) and forget its tokens."""
        request = self._logout_request()
        if request is not None:
            response = self._send(request)
            if response.status_code != 204:
                raise error_for(response, "refresh")

    async def alogout(self) -> None:
        request = self._logout_request()
        if request is not None:
            response = await self._asend(request)
            if response.status_code != 204:
                raise error_for(response, "refresh")

    def __repr__(self) -> str:
        return f"PasswordAuth(issuer={self.issuer!r}, email={self.email!r})"
