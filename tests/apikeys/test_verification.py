"""Verifying a key: introspection (``token_type_hint=api_key``), ``X-API-Key`` as the introspection
caller, and the cache (a keyed hash and an in-memory lookup per request, no database round trip)."""

from __future__ import annotations

from typing import Any

from tests.apikeys.helpers import admin_headers, api_key, create_key, exchange
from tests.support import LiveServer


def _introspect(http: Any, server: LiveServer, token: str, **form: str) -> dict[str, Any]:
    if not hasattr(server, "_rs"):
        server._rs = server.create_client(scopes=["api.read"], name="rs")  # type: ignore[attr-defined]
    record, secret = server._rs  # type: ignore[attr-defined]
    resp = http.post("/oauth/introspect", data={"token": token, **form}, auth=(record.client_id, secret))
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def test_introspecting_an_api_key(any_server: LiveServer) -> None:
    with any_server.client() as http:
        headers = admin_headers(any_server, http)
        key = create_key(http, headers, scopes=["Patient.read", "Observation.read"], rateLimit=100)
        for form in ({"token_type_hint": "api_key"}, {}, {"token_type_hint": "access_token"}):
            info = _introspect(http, any_server, api_key(key), **form)
            assert info["active"] is True, form
            assert info["token_type"] == "api_key" and info["client_id"] == key["clientId"]
            assert info["api_key_id"] == key["id"] and info["scope"] == "Patient.read Observation.read"
            assert info["tenant"] == any_server.tenant_id and info["rate_limit"] == 100 and "exp" not in info
            assert "rate_limited" not in info
        wrong = f"{key['clientId']}:{'1' * 48}"
        assert _introspect(http, any_server, wrong, token_type_hint="api_key") == {"active": False}
        assert _introspect(http, any_server, "nonsense", token_type_hint="api_key") == {"active": False}
        assert http.delete(f"/api-keys/{key['id']}", headers=headers).status_code == 204
        assert _introspect(http, any_server, api_key(key), token_type_hint="api_key") == {"active": False}


def test_introspection_counts_a_use_and_reports_the_rate_limit(server: LiveServer) -> None:
    with server.client() as http:
        key = api_key(create_key(http, admin_headers(server, http), rateLimit=2))
        assert "rate_limited" not in _introspect(http, server, key)
        assert "rate_limited" not in _introspect(http, server, key)
        info = _introspect(http, server, key)
    assert info["active"] is True and info["rate_limited"] is True and 1 <= info["retry_after"] <= 60


def test_a_key_of_another_tenant_is_inactive_for_the_caller(server: LiveServer) -> None:
    from tokensmith.tenants.provisioning import ensure_tenant

    other = server.call(lambda rt: ensure_tenant(rt, "other"))
    record, secret = server.create_client(scopes=["api.read"], tenant_id=other.id, name="foreign-rs")
    with server.client() as http:
        key = api_key(create_key(http, admin_headers(server, http)))
        resp = http.post("/oauth/introspect", data={"token": key, "token_type_hint": "api_key"},
                         auth=(record.client_id, secret))
    assert resp.json() == {"active": False}


def test_x_api_key_authenticates_the_introspection_caller(server: LiveServer) -> None:
    with server.client() as http:
        headers = admin_headers(server, http)
        caller = api_key(create_key(http, headers))
        session_token = exchange(http, caller).json()["token"]
        resp = http.post("/oauth/introspect", data={"token": session_token}, headers={"X-API-Key": caller})
        assert resp.status_code == 200 and resp.json()["active"] is True
        assert resp.json()["sub"] == "doctor123"
        resp = http.post("/oauth/introspect", data={"token": session_token},
                         headers={"X-API-Key": f"{'a' * 32}:{'b' * 48}"})
        assert resp.status_code == 401 and resp.json()["error"] == "invalid_client"


def test_verification_hits_the_database_once_per_key(server: LiveServer) -> None:
    directory = server.runtime.apikeys.directory
    with server.client() as http:
        key = create_key(http, admin_headers(server, http), rateLimit=1000)
        loads = directory.loads
        for _ in range(20):
            assert exchange(http, api_key(key)).status_code == 200
        assert directory.loads - loads == 1
        # Malformed values never reach the database; unknown ids are cached briefly (2 s; longer here so that
        # a slow test machine cannot make the check flaky).
        before = directory.loads
        for _ in range(5):
            assert exchange(http, "x" * 81).status_code == 401
        assert directory.loads == before
        directory.NEGATIVE_TTL = 60.0  # type: ignore[misc]
        for _ in range(5):
            assert exchange(http, f"{'c' * 32}:{'d' * 48}").status_code == 401
        assert directory.loads - before == 1
        # A change invalidates the cached copy at once.
        headers = admin_headers(server, http)
        assert http.patch(f"/api-keys/{key['id']}", json={"active": False}, headers=headers).status_code == 200
        assert exchange(http, api_key(key)).status_code == 401
