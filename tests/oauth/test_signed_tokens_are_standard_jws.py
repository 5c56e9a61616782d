"""The service's own JWS signing (tokensmith.jose.signing) writes what PyJWS writes and PyJWT verifies,
for every signing algorithm a key may have."""

from __future__ import annotations

import jwt
import orjson
import pytest

from tokensmith.jose.keyring import SUPPORTED_ALGS, SigningKeyMaterial, generate_signing_key
from tokensmith.jose.tokens import sign_jwt

CLAIMS = {"iss": "https://ts.example", "sub": "client-1", "aud": "https://ts.example", "exp": 4102444800,
          "iat": 1796240400, "jti": "0190a6b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b", "scope": "api.read"}


def _pyjws(key_alg: str, typ: str) -> tuple[str, SigningKeyMaterial]:
    key = generate_signing_key(key_alg, "active")
    assert key.private is not None
    expected = jwt.api_jws.encode(orjson.dumps(CLAIMS), key.private, algorithm=key.alg,
                                  headers={"typ": typ, "kid": key.kid})
    return expected, key


@pytest.mark.parametrize("alg", SUPPORTED_ALGS)
@pytest.mark.parametrize("typ", ["at+jwt", "JWT"])
def test_a_signed_token_verifies_and_has_the_pyjws_header_and_payload(alg: str, typ: str) -> None:
    expected, key = _pyjws(alg, typ)
    token = sign_jwt(CLAIMS, key, typ=typ)
    assert token.split(".")[:2] == expected.split(".")[:2]
    assert jwt.get_unverified_header(token) == {"alg": alg, "kid": key.kid, "typ": typ}
    decoded = jwt.decode(token, key.public, algorithms=[alg], audience="https://ts.example")
    assert decoded == CLAIMS


@pytest.mark.parametrize("alg", ["RS256", "EdDSA"])  # deterministic signatures: the very same bytes
def test_a_deterministic_signature_is_byte_for_byte_pyjws(alg: str) -> None:
    expected, key = _pyjws(alg, "at+jwt")
    assert sign_jwt(CLAIMS, key) == expected


def test_a_key_of_another_type_than_its_algorithm_is_refused() -> None:
    key = generate_signing_key("ES256", "active")
    rsa_key = generate_signing_key("RS256", "active")
    mismatched = type(key)(kid=key.kid, alg="ES256", status="active", public=rsa_key.public,
                           public_jwk=rsa_key.public_jwk, private=rsa_key.private)
    with pytest.raises(ValueError, match="ES256 cannot sign with a"):
        sign_jwt(CLAIMS, mismatched)
