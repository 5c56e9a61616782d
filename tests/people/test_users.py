"""Users API: ``POST/GET /users``, ``GET /users/me``, ``GET/PATCH /users/{id}``, ``POST
/users/me/password`` — permissions checked with ``require``, no escalation beyond one's own
permissions, changes effective at once (role change, disabling), the last owner kept."""

from __future__ import annotations

from tests.people.helpers import (
    PASSWORD,
    admin_headers,
    audit_types,
    bearer,
    introspect,
    login,
    make_user,
    tokens,
)
from tests.support import LiveServer

NEW_PASSWORD = "another long passphrase"


def test_admin_creates_and_lists_users(any_server: LiveServer) -> None:
    with any_server.client() as http:
        admin = admin_headers(any_server, http)
        resp = http.post("/users", json={"email": "New@Example.com", "password": PASSWORD, "role": "developer",
                                         "projectPermissions": ["alpha:Patient.read"], "name": "New Person"},
                         headers=admin)
        assert resp.status_code == 201, resp.text
        user = resp.json()
        assert user["email"] == "new@example.com"
        assert user["role"] == "developer" and user["status"] == "active" and user["totpEnabled"] is False
        assert user["projectPermissions"] == ["alpha:Patient.read"]
        assert user["tenant"] == any_server.tenant_id
        assert "password" not in user and "passwordHash" not in user
        listed = http.get("/users", headers=admin).json()
        assert {u["email"] for u in listed} == {"admin@example.com", "new@example.com"}
        assert http.get(f"/users/{user['id']}", headers=admin).json() == user
        assert login(http, "new@example.com").status_code == 200
        duplicate = http.post("/users", json={"email": "new@example.com", "password": PASSWORD}, headers=admin)
        assert duplicate.status_code == 409
    assert "user.created" in audit_types(any_server, "user.")


def test_user_bodies_are_validated(server: LiveServer) -> None:
    with server.client() as http:
        admin = admin_headers(server, http)
        short = http.post("/users", json={"email": "a@example.com", "password": "short"}, headers=admin)
        bad_email = http.post("/users", json={"email": "not-an-address"}, headers=admin)
        missing = http.post("/users", json={}, headers=admin)
        no_role = http.post("/users", json={"email": "b@example.com", "role": "wizard"}, headers=admin)
        bad_project = http.post("/users", json={"email": "c@example.com", "projectPermissions": ["nocolon"]},
                                headers=admin)
    assert short.status_code == 400 and "12 characters" in short.json()["error_description"]
    assert bad_email.status_code == 400
    assert missing.status_code == 400 and missing.json()[0]["loc"] == ["email"]
    assert no_role.status_code == 404
    assert bad_project.status_code == 400


def test_permissions_are_required(server: LiveServer) -> None:
    make_user(server, "member@example.com", role="member")
    with server.client() as http:
        member = bearer(tokens(http, "member@example.com")["accessToken"])
        assert http.post("/users", json={"email": "x@example.com"}, headers=member).status_code == 403
        assert http.patch("/users/whatever", json={"role": "admin"}, headers=member).status_code == 403
        assert http.get("/users").status_code == 401
        assert http.get("/users", headers=bearer("garbage")).status_code == 401


def test_nobody_grants_more_than_they_hold(server: LiveServer) -> None:
    from tokensmith.people.roles import create_role

    server.call(lambda rt: create_role(rt, tenant_id=server.tenant_id, name="people-manager",
                                       permissions=["User.*", "UserToken.*", "Session.*", "*.read"]))
    make_user(server, "pm@example.com", role="people-manager")
    target = make_user(server, "m@example.com", role="member")
    boss = make_user(server, "boss@example.com", role="admin")
    with server.client() as http:
        pm = bearer(tokens(http, "pm@example.com")["accessToken"])
        ok = http.post("/users", json={"email": "fresh@example.com", "role": "member"}, headers=pm)
        escalate = http.post("/users", json={"email": "evil@example.com", "role": "admin"}, headers=pm)
        promote = http.patch(f"/users/{target.id}", json={"role": "developer"}, headers=pm)
        demote_admin = http.patch(f"/users/{boss.id}", json={"role": "member"}, headers=pm)
        project = http.patch(f"/users/{target.id}", json={"projectPermissions": ["p:ApiKey.write"]}, headers=pm)
    assert ok.status_code == 201
    assert escalate.status_code == 403 and escalate.json()["error"] == "forbidden"
    assert promote.status_code == 403
    assert demote_admin.status_code == 403
    assert project.status_code == 403


def test_role_change_takes_effect_at_once(any_server: LiveServer) -> None:
    target = make_user(any_server, "t@example.com", role="member")
    with any_server.client() as http:
        admin = admin_headers(any_server, http)
        old = tokens(http, "t@example.com")
        resp = http.patch(f"/users/{target.id}", json={"role": "developer"}, headers=admin)
        assert resp.status_code == 200 and resp.json()["role"] == "developer"
        assert introspect(any_server, http, old["accessToken"])["active"] is False
        new = http.post("/auth/refresh", json={"refreshToken": old["refreshToken"]}).json()
        info = introspect(any_server, http, new["accessToken"])
    assert info["active"] is True and info["role"] == "developer"
    changed = [e for e in audit_types(any_server, "user.") if e == "user.role_changed"]
    assert changed == ["user.role_changed"]


def test_disabling_a_user_ends_their_sessions(server: LiveServer) -> None:
    target = make_user(server, "d@example.com")
    with server.client() as http:
        admin = admin_headers(server, http)
        pair = tokens(http, "d@example.com")
        resp = http.patch(f"/users/{target.id}", json={"disabled": True}, headers=admin)
        assert resp.status_code == 200 and resp.json()["status"] == "disabled"
        assert http.get("/users/me", headers=bearer(pair["accessToken"])).status_code == 401
        assert http.post("/auth/refresh", json={"refreshToken": pair["refreshToken"]}).status_code == 401
        assert login(http, "d@example.com").status_code == 403
        enabled = http.patch(f"/users/{target.id}", json={"status": "active"}, headers=admin)
        assert enabled.json()["status"] == "active"
        assert login(http, "d@example.com").status_code == 200
    assert {"user.disabled", "user.enabled"} <= set(audit_types(server, "user."))


def test_the_last_owner_stays(server: LiveServer) -> None:
    # In a tenant of its own: the platform tenant's owners also hold Tenant.*, which its admins cannot touch.
    from tokensmith.tenants.provisioning import ensure_tenant

    tenant_id = server.call(lambda rt: ensure_tenant(rt, "clinic")).id
    owner = make_user(server, "owner@example.com", role="owner", tenant_id=tenant_id)
    with server.client() as http:
        make_user(server, "admin@example.com", role="admin", tenant_id=tenant_id)
        admin = bearer(tokens(http, "admin@example.com")["accessToken"])
        demote = http.patch(f"/users/{owner.id}", json={"role": "admin"}, headers=admin)
        disable = http.patch(f"/users/{owner.id}", json={"disabled": True}, headers=admin)
        make_user(server, "owner2@example.com", role="owner", tenant_id=tenant_id)
        then = http.patch(f"/users/{owner.id}", json={"role": "admin"}, headers=admin)
    assert demote.status_code == 409 and disable.status_code == 409
    assert then.status_code == 200


def test_users_cannot_disable_themselves_or_change_their_own_role(server: LiveServer) -> None:
    with server.client() as http:
        admin = admin_headers(server, http)
        me = http.get("/users/me", headers=admin).json()
        assert http.patch(f"/users/{me['id']}", json={"disabled": True}, headers=admin).status_code == 400
        assert http.patch(f"/users/{me['id']}", json={"role": "member"}, headers=admin).status_code == 400
        assert http.patch(f"/users/{me['id']}", json={"name": "Me"}, headers=admin).json()["name"] == "Me"


def test_users_see_themselves_and_change_their_password(server: LiveServer) -> None:
    user = make_user(server, "self@example.com")
    other = make_user(server, "peer@example.com")
    with server.client() as http:
        first = tokens(http, "self@example.com")
        second = tokens(http, "self@example.com")
        headers = bearer(first["accessToken"])
        assert http.get("/users/me", headers=headers).json()["id"] == user.id
        assert http.get(f"/users/{user.id}", headers=headers).status_code == 200
        assert http.get(f"/users/{other.id}", headers=headers).status_code == 200  # member holds *.read
        wrong = http.post("/users/me/password", json={"currentPassword": "nope", "newPassword": NEW_PASSWORD},
                          headers=headers)
        assert wrong.status_code == 400
        ok = http.post("/users/me/password", json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
                       headers=headers)
        assert ok.status_code == 204
        assert login(http, "self@example.com").status_code == 401
        assert login(http, "self@example.com", NEW_PASSWORD).status_code == 200
        # every earlier sign-in ended
        assert http.post("/auth/refresh", json={"refreshToken": second["refreshToken"]}).status_code == 401


def test_admin_can_switch_off_a_lost_second_factor(server: LiveServer) -> None:
    from sqlalchemy import update

    from tokensmith.storage.models import User

    user = make_user(server, "lost@example.com")

    async def enable(rt: object) -> None:
        async with rt.db.session() as session:  # type: ignore[attr-defined]
            await session.execute(update(User).where(User.id == user.id).values(totp_enabled=True))

    server.call(enable)
    with server.client() as http:
        assert "mfaRequired" in login(http, "lost@example.com").json()
        admin = admin_headers(server, http)
        resp = http.patch(f"/users/{user.id}", json={"totpEnabled": False}, headers=admin)
        assert resp.status_code == 200 and resp.json()["totpEnabled"] is False
        assert "accessToken" in login(http, "lost@example.com").json()


def test_users_of_other_tenants_are_invisible(server: LiveServer) -> None:
    from tokensmith.tenants.provisioning import ensure_tenant

    other_tenant = server.call(lambda rt: ensure_tenant(rt, "other"))
    stranger = make_user(server, "stranger@example.com", tenant_id=other_tenant.id)
    with server.client() as http:
        admin = admin_headers(server, http)
        assert http.get(f"/users/{stranger.id}", headers=admin).status_code == 404
        assert http.patch(f"/users/{stranger.id}", json={"name": "x"}, headers=admin).status_code == 404
        assert "stranger@example.com" not in {u["email"] for u in http.get("/users", headers=admin).json()}
