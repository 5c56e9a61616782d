"""``private_key_jwt`` (RFC 7523 §2.2, SMART backend services): the client assertion the SDK signs,
checked by an independent verifier (joserfc) standing in for the token endpoint (the real server is in
``test_private_key_jwt_against_the_server.py``). The contract: RS384 or ES384 following the key, ``iss`` =
``sub`` = client id, ``aud`` = the token endpoint, ``exp`` at most 5 minutes ahead, a new ``jti`` every
time (also on the retry after a 429), sent as ``client_assertion`` with the jwt-bearer assertion type."""

from __future__ import annotations

import time
from urllib.parse import parse_qs

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jwt as jose_jwt
from joserfc.jwk import ECKey, RSAKey
from joserfc.jwt import JWTClaimsRegistry

from tokensmith.client import ClientCredentialsAuth, Options

TOKEN_URL = "https://auth.example/smart/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class TokenEndpoint:
    """Verifies each assertion with the client's public key and answers like the token endpoint."""

    def __init__(self, public_key: ECKey | RSAKey, algorithm: str, *, rate_limited_first: bool = False) -> None:
        self.public_key, self.algorithm = public_key, algorithm
        self.jtis: list[str] = []
        self.headers: list[dict[str, object]] = []
        self._limited = rate_limited_first

    def __call__(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        assert request.url == TOKEN_URL and "authorization" not in request.headers
        assert form["grant_type"] == "client_credentials" and form["client_assertion_type"] == ASSERTION_TYPE
        token = jose_jwt.decode(form["client_assertion"], self.public_key, algorithms=[self.algorithm])
        claims = token.claims
        JWTClaimsRegistry(iss={"essential": True, "value": "backend-1"}, sub={"essential": True, "value": "backend-1"},
                          aud={"essential": True, "value": TOKEN_URL}, jti={"essential": True},
                          exp={"essential": True}).validate(claims)
        assert 0 < claims["exp"] - time.time() <= 300 and claims["exp"] - claims["iat"] <= 300
        self.jtis.append(claims["jti"])
        self.headers.append(dict(token.header))
        if self._limited:
            self._limited = False
            return httpx.Response(429, json={"error": "slow_down", "retry_after": 2}, headers={"Retry-After": "2"})
        return httpx.Response(200, json={"access_token": f"at-{len(self.jtis)}", "token_type": "Bearer",
                                         "expires_in": 300, "scope": form.get("scope", "")})


@pytest.mark.parametrize("kind", ["ES384", "RS384"])
def test_the_assertion_meets_the_contract(kind: str) -> None:
    key = ec.generate_private_key(ec.SECP384R1()) if kind == "ES384" else rsa.generate_private_key(65537, 2048)
    public = (ECKey if kind == "ES384" else RSAKey).import_key(key.public_key())  # type: ignore[attr-defined]
    endpoint = TokenEndpoint(public, kind)
    auth = ClientCredentialsAuth(issuer="https://auth.example", client_id="backend-1", private_key=key,
                                 key_id="key-1", token_url=TOKEN_URL, scope="system/*.read",
                                 options=Options(transport=httpx.MockTransport(endpoint)))
    with auth:
        assert auth.token() == "at-1"
        auth.invalidate()
        assert auth.token() == "at-2"
    assert len(set(endpoint.jtis)) == 2
    assert endpoint.headers[0]["alg"] == kind and endpoint.headers[0]["kid"] == "key-1"


def test_a_pem_key_works_and_the_retry_after_a_429_signs_a_new_assertion() -> None:
    from cryptography.hazmat.primitives import serialization

    key = ec.generate_private_key(ec.SECP384R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    endpoint = TokenEndpoint(ECKey.import_key(key.public_key()), "ES384", rate_limited_first=True)
    waits: list[float] = []
    options = Options(transport=httpx.MockTransport(endpoint), sleep=waits.append)
    with ClientCredentialsAuth(issuer="https://auth.example", client_id="backend-1", private_key=pem,
                               token_url=TOKEN_URL, options=options) as auth:
        assert auth.token() == "at-2"
    assert waits == [2.0] and len(set(endpoint.jtis)) == 2
    assert "kid" not in endpoint.headers[0]
    assert "private_key_jwt" in repr(auth) and "BEGIN" not in repr(auth)


def test_keys_that_cannot_sign_rs384_or_es384_are_refused() -> None:
    with pytest.raises(ValueError, match="P-384"):
        ClientCredentialsAuth(issuer="https://auth.example", client_id="c",
                              private_key=ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(ValueError, match="2048"):
        ClientCredentialsAuth(issuer="https://auth.example", client_id="c",
                              private_key=rsa.generate_private_key(65537, 1024))
