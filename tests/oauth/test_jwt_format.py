"""RFC 9068 — JWT access tokens: header ``typ: at+jwt``, the algorithm of the configured key, a ``kid``
published in the JWKS, and the claims ``iss sub aud exp iat jti client_id scope``.

The service signs with PyJWT; an independent library (joserfc) verifies the issued tokens against the
JWKS fetched over HTTP, so a mistake shared by our signer and our verifier cannot hide.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from joserfc import jwt as jose_jwt
from joserfc.errors import BadSignatureError, InvalidClaimError, InvalidKeyIdError, MissingClaimError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from tests.oauth.helpers import basic, get_token, jwt_parts
from tests.support import LiveServer, make_settings

ISSUER = "http://127.0.0.1:9999"
# RFC 9864 deprecates the polymorphic "EdDSA" name in favour of "Ed25519"; joserfc warns about it. The
# service publishes "EdDSA" because that is what relying parties (PyJWT, jose, Nimbus) accept today.
EDDSA_DEPRECATION = pytest.mark.filterwarnings("ignore:EdDSA is deprecated:joserfc.errors.SecurityWarning")
KTY = {"ES256": "EC", "RS256": "RSA", "EdDSA": "OKP"}


@pytest.fixture(params=["ES256", "RS256", "EdDSA"])
def alg_server(request: pytest.FixtureRequest, database_url: str) -> Iterator[tuple[str, LiveServer]]:
    """The service with each supported signing algorithm, on SQLite and on PostgreSQL."""
    with LiveServer(make_settings(database_url, signing_alg=request.param)) as live:
        yield request.param, live


def test_default_token_header_and_claims(any_server: LiveServer) -> None:
    record, secret = any_server.create_client(scopes=["Patient.read", "Observation.read"], access_token_ttl=900)
    with any_server.client() as http:
        first = get_token(http, record.client_id, secret or "")["access_token"]
        second = get_token(http, record.client_id, secret or "")["access_token"]
        jwks = http.get("/.well-known/jwks.json").json()
    header, claims, _ = jwt_parts(first)
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "ES256"
    assert set(header) == {"alg", "typ", "kid"}
    published = {k["kid"]: k for k in jwks["keys"]}
    assert header["kid"] in published
    assert published[header["kid"]]["alg"] == "ES256"
    assert published[header["kid"]]["use"] == "sig"
    assert {"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"} <= set(claims)
    assert claims["iss"] == ISSUER
    assert claims["sub"] == record.client_id  # RFC 9068 §2.2: the client itself when no resource owner
    assert claims["client_id"] == record.client_id
    assert claims["aud"] == ISSUER  # default audience
    assert claims["scope"] == "Patient.read Observation.read"
    assert isinstance(claims["iat"], int) and isinstance(claims["exp"], int)
    assert claims["exp"] - claims["iat"] == 900
    assert uuid.UUID(claims["jti"]).version == 7
    assert jwt_parts(second)[1]["jti"] != claims["jti"]


def test_resource_parameter_sets_the_audience(server: LiveServer) -> None:
    """RFC 8707: ``resource`` names the API the token is for; it becomes ``aud``."""
    record, secret = server.create_client(scopes=["api.read"])
    with server.client() as http:
        token = get_token(http, record.client_id, secret or "", resource="https://api.example.com/")
        bad = http.post("/oauth/token", data={"grant_type": "client_credentials", "resource": "not a uri"},
                        headers=basic(record.client_id, secret or ""))
    assert jwt_parts(token["access_token"])[1]["aud"] == "https://api.example.com/"
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_request"


@EDDSA_DEPRECATION
def test_third_party_library_verifies_against_published_jwks(alg_server: tuple[str, LiveServer]) -> None:
    alg, live = alg_server
    record, secret = live.create_client(scopes=["Patient.read"], access_token_ttl=600)
    with live.client() as http:
        access_token = get_token(http, record.client_id, secret or "")["access_token"]
        jwks = http.get("/.well-known/jwks.json")
    assert jwks.status_code == 200
    assert jwks.headers["content-type"].startswith("application/jwk-set+json")
    key_set = KeySet.import_key_set(jwks.json())
    for key in jwks.json()["keys"]:
        assert key["kty"] == KTY[alg] and key["alg"] == alg and key["use"] == "sig" and key["kid"]
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key), "private parameters in the JWKS"
        # The kid is the RFC 7638 thumbprint, as an independent implementation computes it.
        assert key_set.get_by_kid(key["kid"]).thumbprint() == key["kid"]

    token = jose_jwt.decode(access_token, key_set, algorithms=[alg])
    assert token.header["alg"] == alg
    assert token.header["typ"] == "at+jwt"
    assert token.header["kid"] in {k["kid"] for k in jwks.json()["keys"]}
    registry = JWTClaimsRegistry(
        leeway=5,
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": ISSUER},
        sub={"essential": True, "value": record.client_id},
        client_id={"essential": True, "value": record.client_id},
        scope={"essential": True, "value": "Patient.read"},
        exp={"essential": True},
        iat={"essential": True},
        jti={"essential": True},
    )
    registry.validate(token.claims)
    assert token.claims["exp"] - token.claims["iat"] == 600

    # The same checks are able to fail: a wrong issuer, a missing claim, a changed payload.
    with pytest.raises(InvalidClaimError):
        JWTClaimsRegistry(iss={"essential": True, "value": "https://evil.example"}).validate(token.claims)
    with pytest.raises(MissingClaimError):
        JWTClaimsRegistry(nbf={"essential": True}).validate(token.claims)
    head, payload, sig = access_token.split(".")
    flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    with pytest.raises(BadSignatureError):
        jose_jwt.decode(f"{head}.{flipped}.{sig}", key_set, algorithms=[alg])


def test_third_party_library_rejects_a_token_from_another_deployment(sqlite_url: str, tmp_path: object) -> None:
    """A token is only good against its own issuer's keys: the other deployment's JWKS has no such kid."""
    with LiveServer(make_settings(sqlite_url)) as one, \
            LiveServer(make_settings(f"sqlite+aiosqlite:///{tmp_path}/other.db")) as other:
        record, secret = one.create_client(scopes=["api.read"])
        with one.client() as http:
            access_token = get_token(http, record.client_id, secret or "")["access_token"]
        with other.client() as http:
            foreign = KeySet.import_key_set(http.get("/.well-known/jwks.json").json())
    with pytest.raises(InvalidKeyIdError):
        jose_jwt.decode(access_token, foreign, algorithms=["ES256"])


def test_signing_alg_setting_selects_the_key_type(alg_server: tuple[str, LiveServer]) -> None:
    alg, live = alg_server
    record, secret = live.create_client(scopes=["api.read"])
    with live.client() as http:
        access_token = get_token(http, record.client_id, secret or "")["access_token"]
        info = http.post("/oauth/introspect", data={"token": access_token},
                         headers=basic(record.client_id, secret or "")).json()
        jwks = http.get("/.well-known/jwks.json").json()
    assert jwt_parts(access_token)[0]["alg"] == alg
    assert info["active"] is True
    assert alg in {key["alg"] for key in jwks["keys"]}  # (discovery lists no ID-token algorithms: none issued)
