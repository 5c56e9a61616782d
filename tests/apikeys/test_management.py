"""``/api-keys`` (spec E): exact shapes, the secret shown once and stored only as a keyed hash, validation,
authorisation, tenant isolation and "a key never receives scopes beyond its creator's"."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.apikeys.helpers import admin_headers, api_key, audit_events, bearer, create_key, exchange
from tests.support import LiveServer

HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX48 = re.compile(r"^[0-9a-f]{48}$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _row(server: LiveServer, key_id: str) -> Any:
    from tokensmith.storage.models import ApiKey

    async def read(rt: Any) -> Any:
        async with rt.db.session() as session:
            return await session.get(ApiKey, key_id)

    return server.call(read)


def test_create_returns_exactly_the_documented_body(any_server: LiveServer) -> None:
    with any_server.client() as http:
        headers = admin_headers(any_server, http)
        resp = http.post("/api-keys", json={"name": "Production Server",
                                            "scopes": ["Patient.read", "Observation.read"]}, headers=headers)
        assert resp.status_code == 201, resp.text
        assert resp.headers["cache-control"] == "no-store"
        body = resp.json()
        assert list(body) == ["id", "name", "clientId", "secret", "scopes", "expiresAt", "active", "rateLimit",
                              "createdAt"]
        assert UUID.match(body["id"]) and HEX32.match(body["clientId"]) and HEX48.match(body["secret"])
        assert body["name"] == "Production Server" and body["scopes"] == ["Patient.read", "Observation.read"]
        assert body["expiresAt"] is None and body["active"] is True and body["rateLimit"] is None
        assert ISO_Z.match(body["createdAt"])
        created_at = datetime.strptime(body["createdAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert abs(created_at.timestamp() - time.time()) < 60

        # Never the secret again.
        one = http.get(f"/api-keys/{body['id']}", headers=headers)
        listed = http.get("/api-keys", headers=headers)
        assert one.status_code == 200 and listed.status_code == 200
        assert body["secret"] not in one.text and body["secret"] not in listed.text
        view = one.json()
        assert "secret" not in view and view["clientId"] == body["clientId"] and view["lastUsedAt"] is None
        assert {k: view[k] for k in ("id", "name", "scopes", "expiresAt", "active", "rateLimit", "createdAt")} == {
            k: body[k] for k in ("id", "name", "scopes", "expiresAt", "active", "rateLimit", "createdAt")}
        assert [k["id"] for k in listed.json()] == [body["id"]]

    # Stored only as a keyed hash (HMAC under a key derived from the master key), never in clear.
    row = _row(any_server, body["id"])
    assert row.secret_hash != body["secret"] and len(row.secret_hash) == 64
    assert row.secret_hash == any_server.runtime.master.secret_hash(body["secret"])
    import hashlib

    assert row.secret_hash != hashlib.sha256(body["secret"].encode()).hexdigest()
    assert row.created_by and row.created_by.startswith("client:")
    events = audit_events(any_server, "apikey.created")
    assert len(events) == 1 and events[0]["subject"] == body["id"] and body["secret"] not in str(events)


def test_create_with_every_option(server: LiveServer) -> None:
    expires = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    with server.client() as http:
        headers = admin_headers(server, http)
        body = create_key(http, headers, expiresAt=expires.isoformat().replace("+00:00", "Z"), rateLimit=120,
                          tokenTtl=600, allowedOrganisations=["Clinic A"], allowBrowser=False)
        assert body["expiresAt"] == expires.strftime("%Y-%m-%dT%H:%M:%SZ") and body["rateLimit"] == 120
        view = http.get(f"/api-keys/{body['id']}", headers=headers).json()
    assert view["tokenTtl"] == 600 and view["allowedOrganisations"] == ["Clinic A"] and view["allowBrowser"] is False


def test_validation_errors_are_the_400_list(server: LiveServer) -> None:
    with server.client() as http:
        headers = admin_headers(server, http)
        cases: list[tuple[dict[str, Any], list[str]]] = [
            ({"scopes": ["Patient.read"]}, ["name"]),
            ({"name": "x"}, ["scopes"]),
            ({"name": "", "scopes": []}, ["name"]),
            ({"name": "x", "scopes": "Patient.read"}, ["scopes"]),
            ({"name": "x", "scopes": ["Patient read"]}, ["scopes", 0]),
            ({"name": "x", "scopes": [], "rateLimit": 0}, ["rateLimit"]),
            ({"name": "x", "scopes": [], "rateLimit": "fast"}, ["rateLimit"]),
            ({"name": "x", "scopes": [], "expiresAt": "tomorrow"}, ["expiresAt"]),
            ({"name": "x", "scopes": [], "expiresAt": "2001-01-01T00:00:00Z"}, ["expiresAt"]),
            ({"name": "x", "scopes": [], "tokenTtl": 10}, ["tokenTtl"]),
            ({"name": "x", "scopes": [], "tokenTtl": 10_000_000}, ["tokenTtl"]),
            ({"name": "x", "scopes": [], "secret": "mine"}, ["secret"]),
        ]
        for body, loc in cases:
            resp = http.post("/api-keys", json=body, headers=headers)
            assert resp.status_code == 400, (body, resp.text)
            errors = resp.json()
            assert isinstance(errors, list) and errors[0]["loc"] == loc, (body, errors)
            assert set(errors[0]) == {"loc", "msg", "type"}
        resp = http.post("/api-keys", content=b"{oops", headers={**headers, "Content-Type": "application/json"})
        assert resp.status_code == 400 and isinstance(resp.json(), list)


def test_authorisation(server: LiveServer) -> None:
    with server.client() as http:
        assert http.post("/api-keys", json={"name": "x", "scopes": []}).status_code == 401
        assert http.get("/api-keys", headers=bearer("not-a-token")).status_code == 401
        reader = admin_headers(server, http, scopes=["ApiKey.read", "Patient.read"])
        assert http.get("/api-keys", headers=reader).status_code == 200
        resp = http.post("/api-keys", json={"name": "x", "scopes": []}, headers=reader)
        assert resp.status_code == 403 and resp.json()["error"] == "insufficient_scope"
        # A session token (from the exchange) is no management credential.
        key = api_key(create_key(http, admin_headers(server, http)))
        session_token = exchange(http, key).json()["token"]
        assert http.get("/api-keys", headers=bearer(session_token)).status_code == 403


def test_keys_of_another_tenant_do_not_exist(server: LiveServer) -> None:
    from tokensmith.tenants.provisioning import ensure_tenant

    other = server.call(lambda rt: ensure_tenant(rt, "other"))
    with server.client() as http:
        mine = create_key(http, admin_headers(server, http))
        record, secret = server.create_client(scopes=["ApiKey.*", "Patient.*"], tenant_id=other.id, name="o")
        token = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                          auth=(record.client_id, secret)).json()["access_token"]
        theirs = bearer(token)
        assert http.get("/api-keys", headers=theirs).json() == []
        for method, path in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/rotate")):
            resp = http.request(method, f"/api-keys/{mine['id']}{path}", headers=theirs,
                                json={"name": "stolen"} if method == "PATCH" else None)
            assert resp.status_code == 404 and resp.json() == {"error": "API key not found"}, (method, path)
        assert exchange(http, api_key(mine)).status_code == 200


def test_a_key_never_gets_scopes_beyond_its_creators(server: LiveServer) -> None:
    with server.client() as http:
        limited = admin_headers(server, http, scopes=["ApiKey.*", "Patient.read", "Observation.*"])
        create_key(http, limited, scopes=["Patient.read", "Observation.read", "Observation.write"])
        for scopes in (["Patient.write"], ["Patient.*"], ["*.read"], ["*"], ["Patient.read", "Encounter.read"],
                       ["ApiKey.*", "Client.write"]):
            resp = http.post("/api-keys", json={"name": "x", "scopes": scopes}, headers=limited)
            assert resp.status_code == 403, (scopes, resp.text)
            assert set(resp.json()) == {"error"} and "beyond your own permissions" in resp.json()["error"]
        key = create_key(http, limited, scopes=["Patient.read"])
        # Nor later, by an update.
        resp = http.patch(f"/api-keys/{key['id']}", json={"scopes": ["Patient.*"]}, headers=limited)
        assert resp.status_code == 403
        assert http.get(f"/api-keys/{key['id']}", headers=limited).json()["scopes"] == ["Patient.read"]


def test_nobody_manages_a_key_more_powerful_than_themselves_except_to_revoke_it(server: LiveServer) -> None:
    with server.client() as http:
        powerful = create_key(http, admin_headers(server, http), scopes=["Patient.*"])
        weaker = admin_headers(server, http, scopes=["ApiKey.*", "Patient.read"])
        for method, path, body in (("POST", "/rotate", None), ("PATCH", "", {"name": "mine now"}),
                                   ("PATCH", "", {"scopes": ["Patient.read"]})):
            resp = http.request(method, f"/api-keys/{powerful['id']}{path}", json=body, headers=weaker)
            assert resp.status_code == 403, (method, path, resp.text)
        assert http.delete(f"/api-keys/{powerful['id']}", headers=weaker).status_code == 204


def test_signed_in_users_are_bounded_by_their_role(server: LiveServer) -> None:
    """The same rule for a user's token (``uid`` + the role's permissions as ``scope``)."""
    from tests.people.helpers import login, make_user

    make_user(server, "dev@example.com", role="developer")  # ApiKey.*, Client.*, …, *.read
    with server.client() as http:
        resp = login(http, "dev@example.com")
        assert resp.status_code == 200, resp.text
        user = bearer(resp.json()["accessToken"])
        created = create_key(http, user, scopes=["Patient.read", "Observation.read"])
        assert exchange(http, api_key(created)).status_code == 200
        resp = http.post("/api-keys", json={"name": "x", "scopes": ["Patient.write"]}, headers=user)
        assert resp.status_code == 403
    row = _row(server, created["id"])
    assert row.created_by.startswith("user:")


def test_update_fields(server: LiveServer) -> None:
    with server.client() as http:
        headers = admin_headers(server, http)
        key = create_key(http, headers, rateLimit=10)
        expires = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        resp = http.patch(f"/api-keys/{key['id']}", headers=headers, json={
            "name": "Renamed", "scopes": ["Patient.read", "Patient.write"], "rateLimit": None, "expiresAt": expires,
            "tokenTtl": 120, "allowedOrganisations": ["A"], "allowBrowser": True})
        assert resp.status_code == 200, resp.text
        view = resp.json()
        assert view["name"] == "Renamed" and view["scopes"] == ["Patient.read", "Patient.write"]
        assert view["rateLimit"] is None and view["expiresAt"] == expires and view["tokenTtl"] == 120
        assert view["allowedOrganisations"] == ["A"] and view["allowBrowser"] is True
        resp = http.patch(f"/api-keys/{key['id']}", headers=headers, json={"expiresAt": None,
                                                                          "allowedOrganisations": None})
        assert resp.json()["expiresAt"] is None and resp.json()["allowedOrganisations"] is None
        for body, loc in (({"name": None}, "name"), ({"active": None}, "active"), ({"scopes": None}, "scopes"),
                          ({"rateLimit": -1}, "rateLimit"), ({"clientId": "x"}, "clientId")):
            resp = http.patch(f"/api-keys/{key['id']}", headers=headers, json=body)
            assert resp.status_code == 400 and resp.json()[0]["loc"] == [loc], (body, resp.text)
        assert http.patch(f"/api-keys/{'0' * 8}-0000-0000-0000-{'0' * 12}", headers=headers,
                          json={"name": "x"}).status_code == 404
    assert [e["type"] for e in audit_events(server, "apikey.updated")] == ["apikey.updated"] * 2


def test_deactivate_and_reactivate(server: LiveServer) -> None:
    with server.client() as http:
        headers = admin_headers(server, http)
        key = create_key(http, headers)
        token = exchange(http, api_key(key)).json()["token"]
        assert http.patch(f"/api-keys/{key['id']}", json={"active": False}, headers=headers).json()["active"] is False
        assert exchange(http, api_key(key)).status_code == 401
        assert http.patch(f"/api-keys/{key['id']}", json={"active": True}, headers=headers).status_code == 200
        assert exchange(http, api_key(key)).status_code == 200
        # The session token issued before the deactivation stays dead.
        record, secret = server.create_client(scopes=["api.read"], name="rs")
        info = http.post("/oauth/introspect", data={"token": token}, auth=(record.client_id, secret)).json()
        assert info == {"active": False}
    assert [e["type"] for e in audit_events(server, "apikey.deactivated")] == ["apikey.deactivated"]


def test_revoke(server: LiveServer) -> None:
    with server.client() as http:
        headers = admin_headers(server, http)
        key = create_key(http, headers)
        token = exchange(http, api_key(key)).json()["token"]
        resp = http.delete(f"/api-keys/{key['id']}", headers=headers)
        assert resp.status_code == 204 and resp.content == b""
        assert exchange(http, api_key(key)).status_code == 401
        assert http.delete(f"/api-keys/{key['id']}", headers=headers).status_code == 204  # idempotent
        view = http.get(f"/api-keys/{key['id']}", headers=headers).json()
        assert view["active"] is False and ISO_Z.match(view["revokedAt"])
        assert http.get("/api-keys", headers=headers).json() == []
        assert [k["id"] for k in http.get("/api-keys?includeRevoked=true", headers=headers).json()] == [key["id"]]
        for method, path in (("PATCH", ""), ("POST", "/rotate")):
            resp = http.request(method, f"/api-keys/{key['id']}{path}", headers=headers,
                                json={"active": True} if method == "PATCH" else None)
            assert resp.status_code == 409 and resp.json() == {"error": "API key is revoked"}
        record, secret = server.create_client(scopes=["api.read"], name="rs")
        info = http.post("/oauth/introspect", data={"token": token}, auth=(record.client_id, secret)).json()
        assert info == {"active": False}  # the session tokens it issued are cut off too
    assert len(audit_events(server, "apikey.revoked")) == 1
