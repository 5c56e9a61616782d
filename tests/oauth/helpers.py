"""Small helpers shared by the OAuth protocol tests: form-encoded Basic credentials (RFC 6749 §2.3.1),
token/introspection/revocation calls, JWT segment surgery and polling for cross-instance effects."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus

import httpx

TOKEN_PATHS = ("/oauth/token", "/identity-server/connect/token")
CC = {"grant_type": "client_credentials"}


def basic(client_id: str, secret: str) -> dict[str, str]:
    """``Authorization: Basic`` as RFC 6749 §2.3.1 wants it: form-encode each part, then Base64."""
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def get_token(http: httpx.Client, client_id: str, secret: str, **form: str) -> dict[str, Any]:
    resp = http.post("/oauth/token", data={**CC, **form}, headers=basic(client_id, secret))
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def introspect(http: httpx.Client, token: str, client_id: str, secret: str, **form: str) -> dict[str, Any]:
    resp = http.post("/oauth/introspect", data={"token": token, **form}, headers=basic(client_id, secret))
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def revoke(http: httpx.Client, token: str, client_id: str, secret: str, **form: str) -> httpx.Response:
    return http.post("/oauth/revoke", data={"token": token, **form}, headers=basic(client_id, secret))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def jwt_parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(header, claims, signature segment) without verifying anything."""
    header, payload, signature = token.split(".")
    return json.loads(b64url_decode(header)), json.loads(b64url_decode(payload)), signature


def encode_segment(obj: dict[str, Any]) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def eventually(check: Callable[[], bool], timeout: float = 1.0, interval: float = 0.02) -> float:
    """Poll ``check`` until it is true; return the seconds it took. Fails after ``timeout``."""
    started = time.monotonic()
    while True:
        if check():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)
