"""Session tokens — ``POST /api/v1/token/`` and the RFC 8693 grant, what a backend hands its browser
frontend — never carry management permissions whatever their API key holds, and the management API
refuses them with 403 even when a scope would allow the call (the token's kind decides, not only its
scope). On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx

from tests.apikeys.helpers import USER, admin_headers, api_key, create_key, exchange
from tests.people.helpers import jwt_claims
from tests.service_api.helpers import ROUTES, call, sign_with_service_key
from tests.support import LiveServer
from tokensmith import permissions
from tokensmith.ids import uuid7

GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
USER_ID_TYPE = "urn:tokensmith:params:oauth:token-type:user-id"


def _rfc8693(http: httpx.Client, key: str, scope: str) -> httpx.Response:
    form = {"grant_type": GRANT, "subject_token": USER["user_id"], "subject_token_type": USER_ID_TYPE,
            "first_name": USER["first_name"], "last_name": USER["last_name"],
            "organisation": USER["organisation"], "scope": scope}
    return http.post("/oauth/token", data=form, headers={"X-API-Key": key})


def _key(server: LiveServer, http: httpx.Client, scopes: list[str]) -> str:
    admin = admin_headers(server, http, scopes=["*"])
    return api_key(create_key(http, admin, scopes=scopes))


def test_an_exchanged_token_of_a_key_with_apikey_write_cannot_create_api_keys(any_server: LiveServer) -> None:
    with any_server.client() as http:
        key = _key(any_server, http, ["ApiKey.write", "ApiKey.read", "Patient.read"])
        resp = _rfc8693(http, key, "ApiKey.write Patient.read")
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["scope"] == "Patient.read"  # RFC 6749 §3.3: the response names what was granted
        token = body["access_token"]
        assert jwt_claims(token)["scope"] == "Patient.read"
        created = http.post("/api-keys", json={"name": "from a browser", "scopes": ["Patient.read"]},
                            headers={"Authorization": f"Bearer {token}"})
        assert created.status_code == 403, created.text
        session = exchange(http, key)
        assert session.status_code == 200, session.text
        frontend = session.json()["token"]
        assert "scope" not in jwt_claims(frontend)
        assert call(http, "POST", "/api-keys", {"name": "x", "scopes": ["Patient.read"]}, frontend).status_code == 403


def test_wildcards_that_would_cover_management_are_left_out(any_server: LiveServer) -> None:
    with any_server.client() as http:
        key = _key(any_server, http, ["*"])
        resp = _rfc8693(http, key, "* *.read *.* ApiKey.* User.write Patient.* Observation.read")
        assert resp.status_code == 200, resp.text
    assert resp.json()["scope"] == "Patient.* Observation.read"
    assert jwt_claims(resp.json()["access_token"])["scope"] == "Patient.* Observation.read"


def test_the_management_api_refuses_a_session_token_even_with_the_scope(any_server: LiveServer) -> None:
    """A session token that somehow carries ``*`` (signed with the service's own key) is still refused on
    every management route: the kind of the token is checked, not only its scope."""
    with any_server.client() as http:
        key = _key(any_server, http, ["Patient.read"])
        claims: dict[str, Any] = {**jwt_claims(exchange(http, key).json()["token"]), "jti": uuid7(), "scope": "*"}
        token = sign_with_service_key(any_server, claims)
        answers = {(m, p): call(http, m, p, body, token) for m, p, body in ROUTES}
    assert {route: r.status_code for route, r in answers.items()} == {route: 403 for route in answers}


def test_every_management_permission_is_recognised() -> None:
    constants = [value for name, value in vars(permissions).items()
                 if name.isupper() and isinstance(value, str) and "." in value]
    assert constants and all(permissions.grants_management(value) for value in constants)
    assert not any(permissions.grants_management(s) for s in ("Patient.read", "Observation.*", "openid", "api"))
    assert all(permissions.grants_management(s) for s in ("*", "*.read", "*.*", "Tenant.write", "Key.rotate"))
