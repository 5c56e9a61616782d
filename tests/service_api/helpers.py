"""Helpers of the service-API tests: the management routes a token is tried on, and tokens signed with
the service's own active key (a forgery only the service itself could make: a token of ours whose
claims were never issued)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support import LiveServer
from tokensmith.jose.tokens import sign_jwt

#: (method, path, JSON body): each needs a Bearer token of the service; an admin's sign-in token passes.
ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api-keys", None),
    ("POST", "/api-keys", {"name": "replayed", "scopes": ["Patient.read"]}),
    ("GET", "/users/me", None),
    ("GET", "/sessions", None),
    ("GET", "/user-tokens", None),
    ("GET", "/exchange-users", None),
]


def call(http: httpx.Client, method: str, path: str, body: dict[str, Any] | None, token: str) -> httpx.Response:
    return http.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"})


def sign_with_service_key(server: LiveServer, claims: dict[str, Any]) -> str:
    key = server.runtime.keyring.active
    assert key is not None
    return sign_jwt(claims, key)


def client_token(server: LiveServer, http: httpx.Client, scopes: list[str], fmt: str = "jwt",
                 **form: str) -> str:
    """A client_credentials access token (``form`` may name a ``resource``, RFC 8707)."""
    record, secret = server.create_client(scopes=scopes, name=f"client-{fmt}", access_token_format=fmt)
    assert secret is not None
    resp = http.post("/oauth/token", data={"grant_type": "client_credentials", **form},
                     auth=(record.client_id, secret))
    assert resp.status_code == 200, resp.text
    return str(resp.json()["access_token"])
