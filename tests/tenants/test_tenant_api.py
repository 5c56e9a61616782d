"""``/tenants``: the platform operator's lifecycle (create with first admin, list, show, update, disable,
enable, delete), refused to every tenant's own admin; a disabled tenant's keys, clients, users and tokens
stop working at once, and re-enabling lets new credentials work while old tokens stay dead."""

from __future__ import annotations

from tests.apikeys.helpers import api_key, create_key, exchange
from tests.people.helpers import PASSWORD, bearer, login, tokens
from tests.support import LiveServer
from tests.tenants.helpers import new_tenant, operator, tenant_admin


def test_operator_creates_a_tenant_whose_admin_signs_in(any_server: LiveServer) -> None:
    with any_server.client() as http:
        op = operator(any_server, http)
        created = new_tenant(http, op, "clinic-a", defaultRateLimit=120)
        assert created["slug"] == "clinic-a" and created["status"] == "active"
        assert created["defaultRateLimit"] == 120 and created["admin"]["role"] == "owner"
        assert "password" not in created["admin"]
        generated = http.post("/tenants", json={"slug": "clinic-b", "name": "B", "adminEmail": "b@b.example"},
                              headers=op)
        assert generated.status_code == 201 and generated.headers["cache-control"] == "no-store"
        password = generated.json()["admin"]["password"]
        assert len(password) >= 20
        assert login(http, "b@b.example", password).status_code == 200
        me = http.get("/users/me", headers=tenant_admin(http, "clinic-a")).json()
        assert me["role"] == "owner" and me["tenant"] == created["id"]
        slugs = [t["slug"] for t in http.get("/tenants", headers=op).json()]
        assert slugs == ["default", "clinic-a", "clinic-b"]
        shown = http.get("/tenants/clinic-a", headers=op).json()
        assert shown["contents"] == {"users": 1, "apiKeys": 0, "clients": 0, "exchangeUsers": 0}
        renamed = http.patch(f"/tenants/{created['id']}", json={"name": "Clinic A", "defaultRateLimit": None},
                             headers=op).json()
        assert renamed["name"] == "Clinic A" and renamed["defaultRateLimit"] is None


def test_bad_requests_are_clear_json_errors(any_server: LiveServer) -> None:
    with any_server.client() as http:
        op = operator(any_server, http)
        new_tenant(http, op, "taken")
        cases = [({"slug": "Bad Slug", "name": "x", "adminEmail": "a@x.example"}, 400),
                 ({"slug": "ok", "name": "x", "adminEmail": "not-an-email"}, 400),
                 ({"slug": "ok", "name": "x", "adminEmail": "a@x.example", "adminPassword": "short"}, 400),
                 ({"slug": "ok", "name": "x", "adminEmail": "a@x.example", "defaultRateLimit": 0}, 400),
                 ({"slug": "ok", "name": "x\u0000", "adminEmail": "a@x.example"}, 400),
                 ({"slug": "taken", "name": "x", "adminEmail": "z@x.example"}, 409),
                 ({"slug": "ok", "name": "x", "adminEmail": "admin@taken.example"}, 409)]
        for body, status in cases:
            resp = http.post("/tenants", json=body, headers=op)
            assert resp.status_code == status, (body, resp.text)
            assert "error" in resp.json() or isinstance(resp.json(), list)
        assert http.get("/tenants/nope", headers=op).status_code == 404
        assert http.post("/tenants/default/disable", headers=op).status_code == 409
        assert http.delete("/tenants/default", headers=op).status_code == 409
        # Nothing half-made: the refused tenants do not exist.
        assert [t["slug"] for t in http.get("/tenants", headers=op).json()] == ["default", "taken"]


def test_tenant_admins_get_403_on_tenants(any_server: LiveServer) -> None:
    with any_server.client() as http:
        op = operator(any_server, http)
        new_tenant(http, op, "acme")
        admin = tenant_admin(http, "acme")
        for method, path in (("GET", "/tenants"), ("POST", "/tenants"), ("GET", "/tenants/acme"),
                             ("PATCH", "/tenants/acme"), ("POST", "/tenants/acme/disable"),
                             ("DELETE", "/tenants/acme")):
            resp = http.request(method, path, headers=admin, json={} if method in ("POST", "PATCH") else None)
            assert resp.status_code == 403, (method, path, resp.text)
            assert resp.json()["error"] == "insufficient_scope"
        # Nor can a tenant admin give itself the platform permission, nor can the platform tenant's plain
        # admin ("*") act as an operator.
        resp = http.post("/roles", json={"name": "sneaky", "permissions": ["Tenant.*"]}, headers=admin)
        assert resp.status_code == 403
        platform_admin = operator(any_server, http, "plain-admin@example.com")  # owner: allowed
        assert http.get("/tenants", headers=platform_admin).status_code == 200
        from tests.people.helpers import admin_headers

        star = admin_headers(any_server, http, "star@example.com", role="admin")
        assert http.get("/tenants", headers=star).status_code == 403
        assert http.get("/tenants").status_code == 401


def test_disabling_stops_every_credential_and_enabling_revives_only_new_ones(any_server: LiveServer) -> None:
    with any_server.client() as http:
        op = operator(any_server, http)
        tenant = new_tenant(http, op, "shop")
        admin_tokens = tokens(http, "admin@shop.example")
        admin = bearer(admin_tokens["accessToken"])
        key = api_key(create_key(http, admin))
        session_token = exchange(http, key).json()["token"]
        record, secret = any_server.create_client(tenant_id=tenant["id"], scopes=["api.read"],
                                                  access_token_format="opaque")
        client_token = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                                 auth=(record.client_id, secret)).json()["access_token"]
        ut = http.post("/user-tokens", json={"name": "cli"}, headers=admin)
        assert ut.status_code == 201, ut.text
        user_token = ut.json()["token"]

        def introspect(token: str) -> bool:
            resp = http.post("/oauth/introspect", data={"token": token}, auth=(record.client_id, secret))
            return bool(resp.status_code == 200 and resp.json().get("active"))

        assert introspect(client_token) and introspect(session_token)
        assert http.post(f"/tenants/{tenant['id']}/disable", headers=op).json()["status"] == "disabled"

        assert http.get("/users/me", headers=admin).status_code == 401
        assert exchange(http, key).status_code == 401
        assert http.post("/oauth/token", data={"grant_type": "client_credentials"},
                         auth=(record.client_id, secret)).status_code == 401
        signin = login(http, "admin@shop.example")
        assert signin.status_code == 403 and "disabled" in signin.json()["error"]
        assert http.post("/auth/refresh", json={"refreshToken": admin_tokens["refreshToken"]}).status_code == 401
        user_token_form = {"grant_type": "refresh_token", "refresh_token": user_token}
        assert http.post("/api/user/oauth2/token", data=user_token_form).status_code == 410
        with any_server.client() as other:  # introspection by the operator's own client: inactive too
            own, own_secret = any_server.create_client(scopes=["api.read"])
            for token in (client_token, session_token, admin_tokens["accessToken"]):
                body = other.post("/oauth/introspect", data={"token": token}, auth=(own.client_id, own_secret))
                assert body.json() == {"active": False}

        assert http.post(f"/tenants/{tenant['id']}/enable", headers=op).json()["status"] == "active"
        # New credentials work again; old tokens stay dead.
        assert exchange(http, key).status_code == 200
        fresh = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                          auth=(record.client_id, secret))
        assert fresh.status_code == 200 and introspect(fresh.json()["access_token"])
        assert not introspect(client_token) and not introspect(session_token)
        assert http.get("/users/me", headers=admin).status_code == 401
        assert http.post("/auth/refresh", json={"refreshToken": admin_tokens["refreshToken"]}).status_code == 401
        assert login(http, "admin@shop.example", PASSWORD).status_code == 200
        assert http.post("/api/user/oauth2/token", data=user_token_form).status_code == 200


def test_delete_needs_a_disabled_tenant_without_live_credentials(any_server: LiveServer) -> None:
    with any_server.client() as http:
        op = operator(any_server, http)
        tenant = new_tenant(http, op, "gone")
        key = create_key(http, tenant_admin(http, "gone"))
        refused = http.delete("/tenants/gone", headers=op)
        assert refused.status_code == 409 and "disable it first" in refused.json()["error_description"]
        http.post("/tenants/gone/disable", headers=op)
        refused = http.delete("/tenants/gone", headers=op)
        assert refused.status_code == 409 and "1 unrevoked API key" in refused.json()["error_description"]
        from tokensmith.apikeys.management import revoke_api_key

        any_server.call(lambda rt: revoke_api_key(rt, None, key["id"], actor="test"))
        assert http.delete("/tenants/gone", headers=op).status_code == 204
        assert http.get("/tenants/gone", headers=op).status_code == 404
        assert login(http, "admin@gone.example").status_code == 401
    from tests.people.helpers import audit_events

    kept = [e for e in audit_events(any_server) if e["tenant_id"] == tenant["id"]]
    assert {"tenant.created", "tenant.disabled", "tenant.deleted", "apikey.created"} <= {e["type"] for e in kept}


def test_tenants_are_in_the_served_openapi(server: LiveServer) -> None:
    with server.client() as http:
        paths = http.get("/openapi.json").json()["paths"]
    assert {"get", "post"} <= set(paths["/tenants"])
    assert {"get", "patch", "delete"} <= set(paths["/tenants/{ref}"])
    assert "post" in paths["/tenants/{ref}/disable"] and "post" in paths["/tenants/{ref}/enable"]
    assert "adminEmail" in str(paths["/tenants"]["post"]["requestBody"])
