"""``/smart/apps``: the four registration shapes, exactly the issue's body and response, the validation of
redirect URIs, JWK Sets and scopes, the permission model, and PATCH/DELETE — on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.smart.helpers import KeyPair, admin_headers
from tests.support import LiveServer

PUBLIC = {"name": "Growth chart", "redirectUris": ["https://app.example.com/callback"],
          "scopes": ["launch/patient", "openid", "fhirUser", "patient/Observation.rs"], "isConfidential": False}


def _post(http: httpx.Client, headers: dict[str, str], body: dict[str, Any]) -> httpx.Response:
    return http.post("/smart/apps", json=body, headers=headers)


def test_public_app_uses_pkce_and_no_secret(any_server: LiveServer) -> None:
    with any_server.client() as http:
        headers = admin_headers(any_server, http)
        resp = _post(http, headers, PUBLIC)
        assert resp.status_code == 201, resp.text
        body = resp.json()
        assert list(body)[:2] == ["id", "clientId"] and "clientSecret" not in body
        assert body["redirectUris"] == PUBLIC["redirectUris"] and body["scopes"] == PUBLIC["scopes"]
        assert body["isConfidential"] is False and body["tokenEndpointAuthMethod"] == "none"
        assert body["profile"] == "public" and body["grantTypes"] == ["authorization_code", "refresh_token"]
        assert resp.headers["cache-control"] == "no-store"
        listed = http.get("/smart/apps", headers=headers).json()
        assert [a["clientId"] for a in listed] == [body["clientId"]]
        assert http.get(f"/smart/apps/{body['id']}", headers=headers).json()["createdAt"].endswith("Z")


def test_confidential_symmetric_app_gets_its_secret_once(server: LiveServer) -> None:
    with server.client() as http:
        headers = admin_headers(server, http)
        body = _post(http, headers, {**PUBLIC, "isConfidential": True}).json()
        assert list(body)[:3] == ["id", "clientId", "clientSecret"] and len(body["clientSecret"]) >= 32
        assert body["tokenEndpointAuthMethod"] == "client_secret_basic"
        shown = http.get(f"/smart/apps/{body['id']}", headers=headers).json()
        listed = http.get("/smart/apps", headers=headers).json()
        assert "clientSecret" not in shown and "clientSecret" not in str(listed)
        stored = server.call(lambda rt: rt.clients.load(body["clientId"]))
        assert stored.secret_hash != body["clientSecret"] and body["clientSecret"] not in repr(stored)


def test_asymmetric_and_backend_apps_register_keys(server: LiveServer) -> None:
    key = KeyPair("ES384")
    with server.client() as http:
        headers = admin_headers(server, http)
        asym = _post(http, headers, {**PUBLIC, "isConfidential": True, "jwks": key.jwks()}).json()
        assert asym["profile"] == "confidential-asymmetric" and "clientSecret" not in asym
        assert asym["tokenEndpointAuthMethod"] == "private_key_jwt"
        backend = _post(http, headers, {"name": "Nightly export", "scopes": ["system/*.rs"], "isConfidential": True,
                                        "jwksUri": "https://keys.example.com/jwks.json"})
        assert backend.status_code == 201, backend.text
        b = backend.json()
        assert b["profile"] == "backend-service" and b["grantTypes"] == ["client_credentials"]
        assert b["redirectUris"] == [] and b["jwksUri"] == "https://keys.example.com/jwks.json"
        assert b["accessTokenTtl"] <= 300 and "clientSecret" not in b


@pytest.mark.parametrize(("change", "field"), [
    ({"redirectUris": ["/relative"]}, "redirectUris"),
    ({"redirectUris": ["https://app.example.com/cb#frag"]}, "redirectUris"),
    ({"redirectUris": ["https://user:pw@app.example.com/cb"]}, "redirectUris"),
    ({"redirectUris": []}, "redirectUris"),
    ({"scopes": ["patient/Observation.sr"]}, "scopes"),
    ({"scopes": ["Patient.read"]}, "scopes"),
    ({"scopes": ["system/*.read"]}, "scopes"),
    ({"jwks": {"keys": []}, "isConfidential": True}, "jwks"),
    ({"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "x"}]}, "isConfidential": True}, "jwks"),
    ({"jwks": {"keys": [{"kty": "EC", "crv": "P-384", "kid": "x"}]}, "isConfidential": True}, "jwks"),
    ({"jwksUri": "http://keys.example.com/jwks", "jwks": {"keys": [KeyPair().public]}}, "jwks"),
    ({"isConfidential": False, "jwks": {"keys": [KeyPair().public]}}, "isConfidential"),
    ({"tokenEndpointAuthMethod": "private_key_jwt", "isConfidential": True}, "tokenEndpointAuthMethod"),
])
def test_invalid_registrations_are_400_naming_the_field(server: LiveServer, change: dict[str, Any], field: str) -> None:
    with server.client() as http:
        resp = _post(http, admin_headers(server, http), {**PUBLIC, **change})
        assert resp.status_code == 400, resp.text
        assert [e["loc"] for e in resp.json()] == [[field]], resp.text


def test_private_key_members_are_refused(server: LiveServer) -> None:
    with server.client() as http:
        resp = _post(http, admin_headers(server, http),
                     {"name": "leaky", "scopes": ["system/*.rs"], "jwks": {"keys": [KeyPair().private]}})
        assert resp.status_code == 400 and "private member" in resp.json()[0]["msg"] and "'d'" not in resp.text


def test_backend_services_hold_system_scopes_only(server: LiveServer) -> None:
    with server.client() as http:
        resp = _post(http, admin_headers(server, http),
                     {"name": "b", "scopes": ["patient/*.read"], "jwks": KeyPair().jwks()})
        assert resp.status_code == 400 and "system/" in resp.json()[0]["msg"]


def test_plain_http_redirects_only_on_loopback_outside_development(tmp_path: Any) -> None:
    from tokensmith.errors import ValidationFailed
    from tokensmith.smart.apps import check_redirect_uri

    check_redirect_uri("http://127.0.0.1:8765/cb", development=False)
    check_redirect_uri("http://[::1]/cb", development=False)
    check_redirect_uri("http://app.test/cb", development=True)
    with pytest.raises(ValidationFailed):
        check_redirect_uri("http://app.example.com/cb", development=False)
    with pytest.raises(ValidationFailed):
        check_redirect_uri("javascript:alert(1)", development=True)


def test_permissions_are_app_read_and_app_write(server: LiveServer) -> None:
    with server.client() as http:
        reader = admin_headers(server, http, scopes=["App.read"])
        assert _post(http, reader, PUBLIC).status_code == 403
        assert http.get("/smart/apps", headers=reader).status_code == 200
        assert http.get("/smart/apps").status_code == 401
        assert http.get("/smart/apps", headers=admin_headers(server, http, scopes=["ApiKey.*"])).status_code == 403


def test_patch_changes_fields_and_keeps_the_profile(server: LiveServer) -> None:
    with server.client() as http:
        headers = admin_headers(server, http)
        app = _post(http, headers, PUBLIC).json()
        resp = http.patch(f"/smart/apps/{app['id']}", json={"name": "Renamed", "scopes": ["patient/*.read"]},
                          headers=headers)
        assert resp.status_code == 200, resp.text
        assert resp.json()["name"] == "Renamed" and resp.json()["scopes"] == ["patient/*.read"]
        assert server.call(lambda rt: rt.clients.get(app["clientId"])).allowed_scopes == ("patient/*.read",)
        turned = http.patch(f"/smart/apps/{app['id']}", json={"jwks": KeyPair().jwks()}, headers=headers)
        assert turned.status_code == 400
        off = http.patch(f"/smart/apps/{app['clientId']}", json={"active": False}, headers=headers)
        assert off.status_code == 200 and off.json()["active"] is False
        assert http.patch(f"/smart/apps/{app['id']}", json={"name": None}, headers=headers).status_code == 400


def test_delete_removes_the_app_and_cuts_its_tokens(server: LiveServer) -> None:
    with server.client() as http:
        headers = admin_headers(server, http)
        app = _post(http, headers, {"name": "b", "scopes": ["system/*.rs"], "jwks": KeyPair().jwks()}).json()
        assert http.delete(f"/smart/apps/{app['id']}", headers=headers).status_code == 204
        assert http.get(f"/smart/apps/{app['id']}", headers=headers).status_code == 404
        assert http.delete(f"/smart/apps/{app['id']}", headers=headers).status_code == 404
        assert server.call(lambda rt: rt.clients.get(app["clientId"])) is None


def test_apps_of_another_tenant_are_invisible(server: LiveServer) -> None:
    from tokensmith.tenants.provisioning import ensure_tenant

    other = server.call(lambda rt: ensure_tenant(rt, "other"))
    with server.client() as http:
        app = _post(http, admin_headers(server, http), PUBLIC).json()
        record, secret = server.create_client(scopes=["App.*"], name="other-admin", tenant_id=other.id)
        token = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                          auth=(record.client_id, secret)).json()["access_token"]
        foreign = {"Authorization": f"Bearer {token}"}
        assert http.get(f"/smart/apps/{app['id']}", headers=foreign).status_code == 404
        assert http.get("/smart/apps", headers=foreign).json() == []


def test_a_malformed_authority_is_a_400_not_a_500(server: LiveServer) -> None:
    """``urlsplit`` raises for an unclosed IPv6 bracket, ``.port`` for a port out of range."""
    with server.client() as http:
        admin = admin_headers(server, http)
        for body in ({"redirectUris": ["https://[::1/cb"]},
                     {"jwksUri": "https://[zz]/jwks", "scopes": ["system/*.rs"]},
                     {"jwksUri": "https://keys.example:99999/jwks", "scopes": ["system/*.rs"]}):
            resp = http.post("/smart/apps", json={"name": "x", **body}, headers=admin)
            assert resp.status_code == 400, (body, resp.text)
            assert resp.json()[0]["loc"][-1] in ("redirectUris", "jwksUri")
