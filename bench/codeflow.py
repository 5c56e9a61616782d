"""The authorization-code flow driven over HTTP, as a browser and an app would: for the ``oauth_refresh``
scenario of bench/run.py (a pool of code-flow refresh tokens, one rotating chain per wrk connection) and
for bench/smart_launch.py (complete launches per second, timed step by step).

One :class:`Browser` is one cookie jar: its first flow signs in (argon2id) and consents; later flows of
the same browser reuse the session cookie and the remembered consent, as a returning user's would.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx

from wrk_pool import rotating_chain

REDIRECT_URI = "https://app.example/callback"
CODE_SCOPE = "api.read offline_access"
SAME_ORIGIN = {"sec-fetch-site": "same-origin"}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_REQUEST = re.compile(r'name="request" value="([^"]*)"')

# wrk Lua of ``oauth_refresh``: a rotating chain per connection, the token endpoint's form body and reply.
LUA_OAUTH_REFRESH = rotating_chain('"grant_type=refresh_token&refresh_token=" .. t', "refresh_token")


class FlowFailed(Exception):
    """A step of the flow answered something a browser would not have gone on with."""


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _check(resp: httpx.Response, status: int, step: str) -> httpx.Response:
    if resp.status_code != status:
        raise FlowFailed(f"{step}: HTTP {resp.status_code} (expected {status}): {resp.text[:300]!r}")
    return resp


def _field(pattern: re.Pattern[str], page: str, step: str) -> str:
    found = pattern.search(page)
    if found is None:
        raise FlowFailed(f"{step}: the page has no {pattern.pattern!r}")
    return html.unescape(found.group(1))


@dataclass
class Browser:
    """One user's browser (cookie jar) and the app it authorises (a confidential code-flow client)."""

    base_url: str
    client_id: str
    client_secret: str
    email: str
    password: str
    scope: str = CODE_SCOPE
    #: seconds spent per step over every flow of this browser
    timings: dict[str, float] = field(default_factory=dict)
    _http: httpx.Client | None = None

    def __enter__(self) -> Browser:
        self._http = httpx.Client(base_url=self.base_url, timeout=30)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._http is not None:
            self._http.close()

    @property
    def http(self) -> httpx.Client:
        assert self._http is not None, "use the browser in a with block"
        return self._http

    def _timed(self, step: str, started: float) -> None:
        self.timings[step] = self.timings.get(step, 0.0) + time.perf_counter() - started

    def launch(self) -> dict[str, Any]:
        """authorize → sign-in (first flow only) → consent (first flow only) → code → token: the token
        endpoint's JSON reply."""
        verifier, challenge = _pkce()
        state = secrets.token_urlsafe(8)
        t = time.perf_counter()
        resp = self.http.get("/oauth/authorize", params={
            "client_id": self.client_id, "response_type": "code", "redirect_uri": REDIRECT_URI,
            "scope": self.scope, "state": state, "code_challenge": challenge, "code_challenge_method": "S256"})
        self._timed("authorize", t)
        if resp.status_code == 303 and resp.headers["location"].startswith("/signin"):
            resp = self._sign_in(resp.headers["location"])
        if resp.status_code == 200:
            resp = self._consent(resp)
        location = _check(resp, 303, "authorize").headers["location"]
        query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        if not location.startswith(REDIRECT_URI + "?") or query.get("state") != state or "code" not in query:
            raise FlowFailed(f"authorize: unexpected redirect {location[:200]!r}")
        t = time.perf_counter()
        token = _check(self.http.post("/oauth/token", data={
            "grant_type": "authorization_code", "code": query["code"], "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier}, auth=(self.client_id, self.client_secret)), 200, "token").json()
        self._timed("token", t)
        if not token.get("refresh_token"):
            raise FlowFailed(f"token: no refresh_token in {sorted(token)}")
        return dict(token)

    def _sign_in(self, location: str) -> httpx.Response:
        t = time.perf_counter()
        next_path = unquote(location.split("next=", 1)[1].split("&fresh=")[0])
        form = _check(self.http.get("/signin", params={"next": next_path}), 200, "sign-in form")
        signed = _check(self.http.post("/signin", headers=SAME_ORIGIN, data={
            "csrf_token": _field(_CSRF, form.text, "sign-in form"), "email": self.email,
            "password": self.password, "next": next_path}), 303, "sign-in")
        self._timed("sign-in (argon2id)", t)
        t = time.perf_counter()
        resp = self.http.get(signed.headers["location"])
        self._timed("authorize", t)
        return resp

    def _consent(self, page: httpx.Response) -> httpx.Response:
        t = time.perf_counter()
        resp = self.http.post("/oauth/authorize", headers=SAME_ORIGIN, data={
            "csrf_token": _field(_CSRF, page.text, "consent page"),
            "request": _field(_REQUEST, page.text, "consent page"), "decision": "allow"})
        self._timed("consent", t)
        return resp
