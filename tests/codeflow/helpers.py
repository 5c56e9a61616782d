"""Helpers of the code-flow tests: clients with redirect URIs, PKCE pairs, and a browser-like walk through
authorize → sign-in → consent over HTTP (the browser tests do the same in Chromium)."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx

from tests.people.helpers import PASSWORD
from tests.support import LiveServer
from tests.web.helpers import csrf_of, page_signin

REDIRECT = "https://app.example/callback"
SAME = {"sec-fetch-site": "same-origin"}


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def code_client(server: LiveServer, *, public: bool = True, scopes: list[str] | None = None,
                refresh: bool = True, redirect_uris: list[str] | None = None, **kw: Any) -> tuple[Any, str | None]:
    grants = ["authorization_code", "refresh_token"] if refresh else ["authorization_code"]
    return server.create_client(name=kw.pop("name", "Example App"), is_confidential=not public,
                                redirect_uris=redirect_uris or [REDIRECT], grant_types=grants,
                                scopes=scopes or ["Patient.read", "Observation.read"], **kw)


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@dataclass
class Flow:
    """One authorization of ``client`` in ``http`` (a cookie jar = one browser)."""

    server: LiveServer
    http: httpx.Client
    client_id: str
    scope: str = "openid profile Patient.read offline_access"
    state: str = "state-123"
    nonce: str | None = "nonce-456"
    redirect_uri: str = REDIRECT

    def __post_init__(self) -> None:
        self.verifier, self.challenge = pkce()

    def params(self, **extra: str | None) -> dict[str, str]:
        values: dict[str, str | None] = {
            "client_id": self.client_id, "response_type": "code", "redirect_uri": self.redirect_uri,
            "scope": self.scope,
            "state": self.state, "code_challenge": self.challenge, "code_challenge_method": "S256",
            "nonce": self.nonce}
        values.update(extra)
        return {k: v for k, v in values.items() if v is not None}

    def authorize(self, **extra: str | None) -> httpx.Response:
        return self.http.get("/oauth/authorize", params=self.params(**extra))

    def sign_in_from(self, response: httpx.Response, email: str, password: str = PASSWORD) -> httpx.Response:
        """Follow the redirect to the sign-in page, sign in, and come back to the authorization endpoint."""
        location = response.headers["location"]
        assert location.startswith("/signin?next="), location
        next_path = unquote(location.split("next=", 1)[1].split("&fresh=")[0])
        signed = page_signin(self.http, email, password, next_path=next_path)
        assert signed.status_code == 303, signed.text
        return self.http.get(signed.headers["location"])

    def answer_consent(self, page: httpx.Response, decision: str = "allow") -> httpx.Response:
        assert page.status_code == 200 and "Allow" in page.text, page.text
        found = re.search(r'name="request" value="([^"]*)"', page.text)
        assert found is not None
        request = html.unescape(found.group(1))
        return self.http.post("/oauth/authorize", data={"csrf_token": csrf_of(page.text), "request": request,
                                                        "decision": decision}, headers=SAME)

    def code(self, email: str, **extra: str | None) -> str:
        """The whole front channel: authorize, sign in if needed, consent if asked; returns the code."""
        resp = self.authorize(**extra)
        if resp.status_code == 303 and resp.headers["location"].startswith("/signin"):
            resp = self.sign_in_from(resp, email)
        if resp.status_code == 200:
            resp = self.answer_consent(resp)
        assert resp.status_code == 303, resp.text
        location = resp.headers["location"]
        assert location.startswith(self.redirect_uri + "?"), location
        got = query_of(location)
        assert got["state"] == self.state and got["iss"] == self.server.settings.issuer
        return got["code"]

    def exchange(self, code: str, secret: str | None = None, **extra: str) -> httpx.Response:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri,
                "code_verifier": self.verifier, **extra}
        if secret is None:
            form.setdefault("client_id", self.client_id)
            return self.http.post("/oauth/token", data=form)
        return self.http.post("/oauth/token", data=form, auth=(self.client_id, secret))

    def refresh(self, refresh_token: str, secret: str | None = None, **extra: str) -> httpx.Response:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}
        if secret is None:
            form.setdefault("client_id", self.client_id)
            return self.http.post("/oauth/token", data=form)
        return self.http.post("/oauth/token", data=form, auth=(self.client_id, secret))
