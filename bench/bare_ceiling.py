"""The Python ceiling for the client_credentials benchmark.

A bare Starlette app with one endpoint that does the minimum an OAuth token
endpoint must do for ``client_credentials`` with ``client_secret_basic`` and
RFC 9068 JWT access tokens, and nothing else: no database, no logging, no
middleware.  Whatever tokensmith spends above this is framework, storage and
policy overhead.

Per request it:

* parses the ``application/x-www-form-urlencoded`` body (``request.form()``),
* parses HTTP Basic credentials (client_id / client_secret are form-urlencoded
  inside Basic, RFC 6749 section 2.3.1),
* checks the secret with ``hmac.compare_digest`` against a stored
  HMAC-SHA256 keyed hash of it,
* checks ``grant_type`` and ``scope``,
* signs an ES256 JWT with header ``{"typ": "at+jwt", "kid": ...}`` and the
  RFC 9068 claims iss sub aud exp iat jti client_id scope (PyJWT),
* returns the token response JSON with ``Cache-Control: no-store``.

Configuration comes from the environment (set by ``bench/run.py``):

``BARE_SIGNING_KEY_FILE``  PEM EC P-256 private key (generated per process if unset)
``BARE_CLIENT_ID`` / ``BARE_CLIENT_SECRET``  the one confidential client
``BARE_ISSUER``  the ``iss`` claim
``BARE_AUDIENCE``  the ``aud`` claim

Run: ``uvicorn bare_ceiling:app --app-dir bench --workers 2 --no-access-log
--loop uvloop --http httptools``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import time
from urllib.parse import unquote_plus

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def _load_signing_key() -> ec.EllipticCurvePrivateKey:
    path = os.environ.get("BARE_SIGNING_KEY_FILE")
    if path:
        with open(path, "rb") as fh:
            key = serialization.load_pem_private_key(fh.read(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise SystemExit(f"{path}: not an EC private key")
        return key
    return ec.generate_private_key(ec.SECP256R1())


def _kid_for(key: ec.EllipticCurvePrivateKey) -> str:
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()[:12]).decode().rstrip("=")


SIGNING_KEY = _load_signing_key()
KID = _kid_for(SIGNING_KEY)
ISSUER = os.environ.get("BARE_ISSUER", "http://127.0.0.1")
AUDIENCE = os.environ.get("BARE_AUDIENCE", "https://api.bench.test")
TOKEN_TTL = 3600

CLIENT_ID = os.environ.get("BARE_CLIENT_ID", "bench")
_PEPPER = secrets.token_bytes(32)


def _secret_hash(secret: str) -> bytes:
    return hmac.new(_PEPPER, secret.encode(), hashlib.sha256).digest()


# Only the keyed hash of the secret is kept in memory, as a real server would.
CLIENT_SECRET_HASH = _secret_hash(os.environ.get("BARE_CLIENT_SECRET", "bench-secret"))
CLIENT_SCOPES = frozenset(("api.read", "api.write"))

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _error(status: int, error: str, description: str) -> JSONResponse:
    headers = dict(_NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="token"'
    return JSONResponse({"error": error, "error_description": description}, status_code=status, headers=headers)


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, client_secret = decoded.partition(":")
    if not sep:
        return None
    return unquote_plus(client_id), unquote_plus(client_secret)


async def token(request: Request) -> JSONResponse:
    form = await request.form()
    creds = _basic_credentials(request)
    if creds is None:
        return _error(401, "invalid_client", "client authentication required")
    client_id, client_secret = creds
    # Always compute the hash so an unknown client costs the same as a bad secret.
    ok_secret = hmac.compare_digest(_secret_hash(client_secret), CLIENT_SECRET_HASH)
    if client_id != CLIENT_ID or not ok_secret:
        return _error(401, "invalid_client", "client authentication failed")

    if form.get("grant_type") != "client_credentials":
        return _error(400, "unsupported_grant_type", "only client_credentials is supported")
    raw_scope = form.get("scope")
    if isinstance(raw_scope, str) and raw_scope.strip():
        requested = raw_scope.split()
        if not CLIENT_SCOPES.issuperset(requested):
            return _error(400, "invalid_scope", "requested scope is not allowed")
        scope = " ".join(dict.fromkeys(requested))
    else:
        scope = " ".join(sorted(CLIENT_SCOPES))

    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": client_id,
        "aud": AUDIENCE,
        "exp": now + TOKEN_TTL,
        "iat": now,
        "jti": secrets.token_urlsafe(16),
        "client_id": client_id,
        "scope": scope,
    }
    access_token = jwt.encode(claims, SIGNING_KEY, algorithm="ES256", headers={"typ": "at+jwt", "kid": KID})
    return JSONResponse(
        {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": TOKEN_TTL,
            "scope": scope,
        },
        headers=_NO_STORE,
    )


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


app = Starlette(
    routes=[
        Route("/oauth/token", token, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
)
