"""Roles API: ``POST /roles`` (custom permission sets, never beyond the creator's own permissions) and
``GET /roles`` (the built-in roles and the custom ones)."""

from __future__ import annotations

from tests.people.helpers import admin_headers, audit_types, bearer, make_user, tokens
from tests.support import LiveServer


def test_builtin_roles_are_listed(server: LiveServer) -> None:
    with server.client() as http:
        roles = {r["name"]: r for r in http.get("/roles", headers=admin_headers(server, http)).json()}
    assert {"owner", "admin", "developer", "member"} <= set(roles)
    # The platform's own tenant: its owners also hold the platform permission (docs/operations.md, Tenants).
    assert roles["owner"]["permissions"] == ["*", "Tenant.*"] and roles["owner"]["builtin"] is True


def test_custom_role_is_created_and_assignable(any_server: LiveServer) -> None:
    with any_server.client() as http:
        admin = admin_headers(any_server, http)
        resp = http.post("/roles", json={"name": "auditor", "permissions": ["Audit.read", "*.read", "Audit.read"]},
                         headers=admin)
        assert resp.status_code == 201, resp.text
        role = resp.json()
        assert role["name"] == "auditor" and role["builtin"] is False
        assert role["permissions"] == ["Audit.read", "*.read"]
        assert http.post("/roles", json={"name": "auditor", "permissions": []}, headers=admin).status_code == 409
        created = http.post("/users", json={"email": "aud@example.com", "password": "long enough password",
                                            "role": "auditor"}, headers=admin)
        assert created.status_code == 201 and created.json()["permissions"] == ["Audit.read", "*.read"]
        names = [r["name"] for r in http.get("/roles", headers=admin).json()]
    assert "auditor" in names
    assert "role.created" in audit_types(any_server, "role.")


def test_role_bodies_are_validated(server: LiveServer) -> None:
    with server.client() as http:
        admin = admin_headers(server, http)
        bad_name = http.post("/roles", json={"name": "Has Spaces", "permissions": []}, headers=admin)
        bad_perm = http.post("/roles", json={"name": "x", "permissions": ["bad scope"]}, headers=admin)
        missing = http.post("/roles", json={"permissions": []}, headers=admin)
    assert bad_name.status_code == 400
    assert bad_perm.status_code == 400
    assert missing.status_code == 400 and missing.json()[0]["loc"] == ["name"]


def test_roles_need_role_write_and_stay_within_the_creators_permissions(server: LiveServer) -> None:
    from tokensmith.people.roles import create_role

    server.call(lambda rt: create_role(rt, tenant_id=server.tenant_id, name="role-maker",
                                       permissions=["Role.write", "Patient.*"]))
    make_user(server, "maker@example.com", role="role-maker")
    make_user(server, "dev@example.com", role="developer")
    with server.client() as http:
        maker = bearer(tokens(http, "maker@example.com")["accessToken"])
        dev = bearer(tokens(http, "dev@example.com")["accessToken"])
        within = http.post("/roles", json={"name": "patient-reader", "permissions": ["Patient.read"]}, headers=maker)
        beyond = http.post("/roles", json={"name": "too-much", "permissions": ["Patient.read", "ApiKey.write"]},
                           headers=maker)
        no_right = http.post("/roles", json={"name": "nope", "permissions": []}, headers=dev)
    assert within.status_code == 201
    assert beyond.status_code == 403 and "ApiKey.write" in beyond.json()["error_description"]
    assert no_right.status_code == 403
