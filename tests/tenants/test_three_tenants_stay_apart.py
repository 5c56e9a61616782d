"""Three tenants made through ``/tenants``: each tenant admin sees and changes only its own keys, users,
sessions and exchange users, and a token of one tenant is inactive when introspected by another's client."""

from __future__ import annotations

from tests.apikeys.helpers import api_key, create_key, exchange
from tests.support import LiveServer
from tests.tenants.helpers import new_tenant, operator, tenant_admin


def test_three_tenants_never_see_each_other(any_server: LiveServer) -> None:
    with any_server.client() as http:
        op = operator(any_server, http)
        tenants = {slug: new_tenant(http, op, slug) for slug in ("ta", "tb", "tc")}
        admins = {slug: tenant_admin(http, slug) for slug in tenants}
        keys = {slug: create_key(http, admins[slug]) for slug in tenants}
        for slug in tenants:
            assert exchange(http, api_key(keys[slug])).status_code == 200
        clients = {slug: any_server.create_client(tenant_id=t["id"], scopes=["api.read"])
                   for slug, t in tenants.items()}
        tokens = {slug: http.post("/oauth/token", data={"grant_type": "client_credentials"},
                                  auth=(c.client_id, s)).json()["access_token"] for slug, (c, s) in clients.items()}
        users = {slug: http.get("/users", headers=admins[slug]).json() for slug in tenants}
        for slug in tenants:
            assert [u["email"] for u in users[slug]] == [f"admin@{slug}.example"]
        for me in tenants:
            for other in (o for o in tenants if o != me):
                headers = admins[me]
                assert keys[other]["id"] not in {k["id"] for k in http.get("/api-keys", headers=headers).json()}
                for method, path in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/rotate")):
                    resp = http.request(method, f"/api-keys/{keys[other]['id']}{path}", headers=headers,
                                        json={"name": "stolen"} if method == "PATCH" else None)
                    assert resp.status_code == 404, (me, other, method, path)
                other_user = users[other][0]["id"]
                assert http.get(f"/users/{other_user}", headers=headers).status_code == 404
                assert http.patch(f"/users/{other_user}", json={"name": "x"}, headers=headers).status_code == 404
                assert http.get("/exchange-users/user-1", headers=headers).status_code in (404, 403)
                sessions = http.get("/sessions", headers=headers)
                assert sessions.status_code != 200 or all(s.get("userId") != other_user for s in sessions.json())
                client, secret = clients[me]
                body = http.post("/oauth/introspect", data={"token": tokens[other]},
                                 auth=(client.client_id, secret)).json()
                assert body == {"active": False}, (me, other)
                body = http.post("/oauth/introspect", data={"token": api_key(keys[other]),
                                                            "token_type_hint": "api_key"},
                                 auth=(client.client_id, secret)).json()
                assert body == {"active": False}
            client, secret = clients[me]
            assert http.post("/oauth/introspect", data={"token": tokens[me]},
                             auth=(client.client_id, secret)).json()["active"] is True
        # Disabling one tenant leaves the two others working.
        assert http.post("/tenants/tb/disable", headers=op).status_code == 200
        assert exchange(http, api_key(keys["tb"])).status_code == 401
        for slug in ("ta", "tc"):
            assert exchange(http, api_key(keys[slug])).status_code == 200
            assert http.get("/users/me", headers=admins[slug]).status_code == 200
