"""RFC 8725 (JWT best current practices) against the one verifier, seen through introspection: the
algorithm is pinned by the key the ``kid`` names, so ``none``, algorithm confusion, tampering, unknown
keys, foreign issuers and non-access-token types are all just ``{"active": false}``."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.oauth.helpers import b64url, encode_segment, get_token, introspect, jwt_parts
from tests.support import LiveServer

INACTIVE = {"active": False}


@pytest.fixture
def issued(server: LiveServer) -> dict[str, Any]:
    """A valid token and the client that can introspect it."""
    record, secret = server.create_client(scopes=["Patient.read"])
    with server.client() as http:
        token = get_token(http, record.client_id, secret or "")["access_token"]
        assert introspect(http, token, record.client_id, secret or "")["active"] is True
    return {"token": token, "client_id": record.client_id, "secret": secret or "", "server": server}


def check_inactive(issued: dict[str, Any], *tokens: str) -> None:
    server: LiveServer = issued["server"]
    with server.client() as http:
        for token in tokens:
            assert introspect(http, token, issued["client_id"], issued["secret"]) == INACTIVE, token


def hs256(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    signing_input = f"{encode_segment(header)}.{encode_segment(claims)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def test_tampered_payload_is_inactive(issued: dict[str, Any]) -> None:
    token: str = issued["token"]
    head, payload, sig = token.split(".")
    # Flip one character of the payload, keep the signature.
    i = len(payload) // 2
    flipped = payload[:i] + ("A" if payload[i] != "A" else "B") + payload[i + 1:]
    # Change claims (wider scope, longer life), re-encode, keep the signature.
    _, claims, _ = jwt_parts(token)
    wider = encode_segment({**claims, "scope": "*"})
    longer = encode_segment({**claims, "exp": claims["exp"] + 10**6})
    # Change the header (drop typ) and keep the signature.
    header, _, _ = jwt_parts(token)
    other_head = encode_segment({k: v for k, v in header.items() if k != "typ"})
    truncated_sig = sig[:-4]
    check_inactive(issued, f"{head}.{flipped}.{sig}", f"{head}.{wider}.{sig}", f"{head}.{longer}.{sig}",
                   f"{other_head}.{payload}.{sig}", f"{head}.{payload}.{truncated_sig}", f"{head}.{payload}.")


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_is_inactive(issued: dict[str, Any], alg: str) -> None:
    header, claims, _ = jwt_parts(issued["token"])
    unsigned = f"{encode_segment({**header, 'alg': alg})}.{encode_segment(claims)}"
    check_inactive(issued, unsigned + ".", unsigned + "." + issued["token"].split(".")[2])


def test_hs256_with_the_public_key_as_hmac_secret_is_inactive(issued: dict[str, Any]) -> None:
    """Algorithm confusion: an attacker signs HS256 with what the JWKS publishes."""
    server: LiveServer = issued["server"]
    header, claims, _ = jwt_parts(issued["token"])
    with server.client() as http:
        jwk = next(k for k in http.get("/.well-known/jwks.json").json()["keys"] if k["kid"] == header["kid"])
    public = jwt.PyJWK(jwk).key
    candidates = [
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
        public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint),
        json.dumps(jwk).encode(),
        json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode(),
    ]
    forged = []
    for secret in candidates:
        for alg in ("HS256", "HS384", "HS512"):
            digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
            signing_input = f"{encode_segment({**header, 'alg': alg})}.{encode_segment({**claims, 'scope': '*'})}"
            sig = hmac.new(secret, signing_input.encode(), digest).digest()
            forged.append(f"{signing_input}.{b64url(sig)}")
    check_inactive(issued, *forged)


def test_unknown_kid_and_foreign_keys_are_inactive(issued: dict[str, Any]) -> None:
    header, claims, signature = jwt_parts(issued["token"])
    attacker = ec.generate_private_key(ec.SECP256R1())
    attacker_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(attacker.public_key()))
    tokens = [
        # Signed by the attacker with our kid.
        jwt.encode(claims, attacker, algorithm="ES256", headers={"typ": "at+jwt", "kid": header["kid"]}),
        # Signed by the attacker with a kid we do not know, and the key embedded (jwk / jku injection).
        jwt.encode(claims, attacker, algorithm="ES256",
                   headers={"typ": "at+jwt", "kid": "attacker", "jwk": attacker_jwk}),
        jwt.encode(claims, attacker, algorithm="ES256",
                   headers={"typ": "at+jwt", "kid": "attacker", "jku": "https://evil.example/jwks.json"}),
        # No kid at all, a non-string kid.
        jwt.encode(claims, attacker, algorithm="ES256", headers={"typ": "at+jwt"}),
        f"{encode_segment({**header, 'kid': 7})}.{encode_segment(claims)}.{signature}",
        f"{encode_segment({**header, 'kid': [header['kid']]})}.{encode_segment(claims)}.{signature}",
        # RS256 under our (EC) kid.
        jwt.encode(claims, rsa.generate_private_key(public_exponent=65537, key_size=2048), algorithm="RS256",
                   headers={"typ": "at+jwt", "kid": header["kid"]}),
    ]
    check_inactive(issued, *tokens)


def test_own_key_but_wrong_type_issuer_or_time_is_inactive(issued: dict[str, Any]) -> None:
    """Correctly signed by our own key, yet not an access token we would accept."""
    server: LiveServer = issued["server"]
    key = server.runtime.keyring.active
    assert key is not None and key.private is not None
    _, claims, _ = jwt_parts(issued["token"])
    now = int(server.runtime.clock.now())

    def sign(payload: dict[str, Any], typ: str | None = "at+jwt") -> str:
        headers: dict[str, Any] = {"kid": key.kid}
        headers["typ"] = typ
        return jwt.encode(payload, key.private, algorithm=key.alg, headers=headers)

    # A control: our own key with the right claims is active, so the cases below fail for their reason.
    with server.client() as http:
        assert introspect(http, sign(claims), issued["client_id"], issued["secret"])["active"] is True
    check_inactive(
        issued,
        sign(claims, typ="JWT"),  # RFC 9068 §4: resource servers MUST check typ
        sign(claims, typ="id_token+jwt"),
        sign(claims, typ=None),
        sign({**claims, "iss": "https://evil.example"}),
        sign({k: v for k, v in claims.items() if k != "iss"}),
        sign({k: v for k, v in claims.items() if k != "exp"}),
        sign({**claims, "exp": now - 3600}),
        sign({**claims, "nbf": now + 3600}),
        sign({**claims, "iat": now + 3600}),
        sign({**claims, "exp": "9999999999"}),
    )


@pytest.mark.parametrize("garbage", ["", "a.b.c", "....", "x" * 600, "eyJhbGciOiJub25lIn0.e30", "a.b",
                                     "\u00e9.\u00e9.\u00e9"])
def test_garbage_tokens_are_inactive(issued: dict[str, Any], garbage: str) -> None:
    server: LiveServer = issued["server"]
    with server.client() as http:
        resp = http.post("/oauth/introspect", data={"token": garbage},
                         auth=(issued["client_id"], issued["secret"]))
    if garbage == "":
        assert resp.status_code == 400 and resp.json()["error"] == "invalid_request"
    else:
        assert resp.status_code == 200, resp.text
        assert resp.json() == INACTIVE
