"""The SDK's ``private_key_jwt`` against the real token endpoint: a backend-service app registered with
``POST /smart/apps`` and its public JWK gets tokens from ``ClientCredentialsAuth(private_key=…)`` — one
assertion per token request, each ``jti`` new (the server refuses a replayed one), on ``/smart/token``
and ``/oauth/token``; a key the app did not register is refused with the SDK's ``InvalidClient``."""

from __future__ import annotations

import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.jwk import ECKey, RSAKey

from tests.people.helpers import jwt_claims
from tests.smart.helpers import admin_headers
from tests.support import LiveServer
from tokensmith.client import ClientCredentialsAuth, InvalidClient


def _key(alg: str) -> tuple[bytes, dict[str, object], str]:
    kid = uuid.uuid4().hex
    private = ec.generate_private_key(ec.SECP384R1()) if alg == "ES384" else rsa.generate_private_key(65537, 2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    jwk = (ECKey if alg == "ES384" else RSAKey).import_key(pem, parameters={"kid": kid})
    return pem, dict(jwk.as_dict(private=False)), kid


def _backend_app(server: LiveServer, public_jwk: dict[str, object]) -> str:
    with server.client() as http:
        resp = http.post("/smart/apps", json={"name": "nightly export", "scopes": ["system/Patient.rs"],
                                              "isConfidential": True, "jwks": {"keys": [public_jwk]}},
                         headers=admin_headers(server, http))
    assert resp.status_code == 201, resp.text
    return str(resp.json()["clientId"])


@pytest.mark.parametrize("alg", ["ES384", "RS384"])
@pytest.mark.parametrize("path", ["/smart/token", "/oauth/token"])
def test_a_backend_service_gets_tokens_with_its_key(server: LiveServer, alg: str, path: str) -> None:
    pem, public, kid = _key(alg)
    client_id = _backend_app(server, public)
    auth = ClientCredentialsAuth(issuer=server.settings.issuer, client_id=client_id, private_key=pem, key_id=kid,
                                 scope="system/Patient.rs", token_url=server.settings.issuer + path)
    try:
        first = auth.get_token()
        auth.invalidate()
        second = auth.get_token()  # a new assertion: the first one's jti is used up
    finally:
        auth.close()
    assert first.value != second.value and auth.token_requests == 2
    claims = jwt_claims(second.value.reveal())
    assert claims["client_id"] == client_id and claims["exp"] - claims["iat"] <= 300  # backend services: 5 min
    with server.client() as http:
        seen = http.post("/oauth/introspect", data={"token": second.value.reveal()},
                         auth=_resource_server(server)).json()
    assert seen["active"] is True, seen
    assert seen["client_id"] == client_id and seen["scope"] == "system/Patient.rs"


def _resource_server(server: LiveServer) -> tuple[str, str]:
    record, secret = server.create_client(scopes=["api.read"], name="resource server")
    return record.client_id, secret or ""


def test_a_key_the_app_did_not_register_is_refused(server: LiveServer) -> None:
    _, public, kid = _key("ES384")
    client_id = _backend_app(server, public)
    other_pem, _, _ = _key("ES384")
    auth = ClientCredentialsAuth(issuer=server.settings.issuer, client_id=client_id, private_key=other_pem,
                                 key_id=kid, scope="system/Patient.rs",
                                 token_url=server.settings.issuer + "/smart/token")
    try:
        with pytest.raises(InvalidClient):
            auth.get_token()
    finally:
        auth.close()
