"""RFC 8414 authorization server metadata and OpenID Connect discovery: the issuer, and endpoint URLs
that are really served at those addresses."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.oauth.helpers import basic, get_token, jwt_parts
from tests.support import LiveServer, make_settings

DOCUMENTS = ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server")


@pytest.mark.parametrize("document", DOCUMENTS)
def test_discovery_document(any_server: LiveServer, document: str) -> None:
    issuer = any_server.settings.issuer
    with any_server.client() as http:
        resp = http.get(document)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/json")
    meta = resp.json()
    assert meta["issuer"] == issuer == "http://127.0.0.1:9999"
    assert meta["token_endpoint"] == f"{issuer}/oauth/token"
    assert meta["jwks_uri"] == f"{issuer}/.well-known/jwks.json"
    assert meta["introspection_endpoint"] == f"{issuer}/oauth/introspect"
    assert meta["revocation_endpoint"] == f"{issuer}/oauth/revoke"
    assert "client_credentials" in meta["grant_types_supported"]
    assert {"client_secret_basic", "client_secret_post"} <= set(meta["token_endpoint_auth_methods_supported"])
    assert {"client_secret_basic", "client_secret_post"} <= set(meta["introspection_endpoint_auth_methods_supported"])
    assert {"client_secret_basic", "client_secret_post"} <= set(meta["revocation_endpoint_auth_methods_supported"])
    # The code flow is served: its endpoint, PKCE S256 only, RFC 9207 iss, OpenID Connect's members.
    assert meta["response_types_supported"] == ["code"]
    assert meta["authorization_endpoint"] == f"{issuer}/oauth/authorize"
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert meta["userinfo_endpoint"] == f"{issuer}/oauth/userinfo"
    assert meta["subject_types_supported"] == ["public"]
    assert meta["id_token_signing_alg_values_supported"] == ["ES256"]
    assert {"authorization_code", "refresh_token"} <= set(meta["grant_types_supported"])
    assert "fhirUser" in meta["claims_supported"]  # the SMART launch-context provider is registered
    assert meta["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post",
                                                             "private_key_jwt", "none"]
    assert meta["revocation_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post",
                                                                  "private_key_jwt", "none"]
    assert meta["service_documentation"] == f"{issuer}/docs"  # the page is served
    # RFC 8414 §2: the signing algorithms of token endpoint auth are listed only with a method that uses them.
    methods = set(meta["token_endpoint_auth_methods_supported"])
    if "token_endpoint_auth_signing_alg_values_supported" in meta:
        assert methods & {"private_key_jwt", "client_secret_jwt"}
        assert "none" not in meta["token_endpoint_auth_signing_alg_values_supported"]


def test_both_documents_agree(server: LiveServer) -> None:
    with server.client() as http:
        oidc, oauth = (http.get(d).json() for d in DOCUMENTS)
    assert oidc == oauth


def test_advertised_endpoints_are_served(any_server: LiveServer) -> None:
    record, secret = any_server.create_client(scopes=["api.read"])
    with any_server.client() as http:
        meta = http.get("/.well-known/openid-configuration").json()

        def path(url: str) -> str:
            return urlsplit(url).path

        token = http.post(path(meta["token_endpoint"]), data={"grant_type": "client_credentials"},
                          headers=basic(record.client_id, secret or ""))
        assert token.status_code == 200, token.text
        access_token = token.json()["access_token"]
        jwks = http.get(path(meta["jwks_uri"]))
        assert jwks.status_code == 200 and jwks.json()["keys"]
        info = http.post(path(meta["introspection_endpoint"]), data={"token": access_token},
                         headers=basic(record.client_id, secret or ""))
        assert info.json()["active"] is True
        revoked = http.post(path(meta["revocation_endpoint"]), data={"token": access_token},
                            headers=basic(record.client_id, secret or ""))
        assert revoked.status_code == 200


def test_issuer_follows_configuration(sqlite_url: str) -> None:
    settings = make_settings(sqlite_url, issuer="https://auth.example.com/tenant-a/")
    with LiveServer(settings) as live, live.client() as http:
        meta = http.get("/.well-known/oauth-authorization-server").json()
        record, secret = live.create_client(scopes=["api.read"])
        token = get_token(http, record.client_id, secret or "")["access_token"]
    assert meta["issuer"] == "https://auth.example.com/tenant-a"
    assert meta["token_endpoint"] == "https://auth.example.com/tenant-a/oauth/token"
    assert meta["jwks_uri"] == "https://auth.example.com/tenant-a/.well-known/jwks.json"
    assert jwt_parts(token)[1]["iss"] == meta["issuer"]
