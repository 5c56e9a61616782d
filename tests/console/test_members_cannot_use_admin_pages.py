"""A member (``UserToken.*``, ``Session.*``, ``*.read``) sees no admin action and is refused every admin
action even when it posts a valid CSRF token of its own session (checked server-side, nothing changes);
a tenant admin of another tenant cannot touch the deployment's signing keys."""

from __future__ import annotations

import pytest

from tests.console.fixtures import Populated, populate
from tests.console.helpers import SAME, client_as, post
from tests.support import LiveServer
from tests.web.helpers import csrf_of

ADMIN_POSTS = [
    ("/console/api-keys/new", {"name": "x", "scopes_other": "Patient.read"}),
    ("/console/api-keys/{key_id}/edit", {"name": "x", "active": "on"}),
    ("/console/api-keys/{key_id}/rotate", {"grace_seconds": "0"}),
    ("/console/api-keys/{key_id}/revoke", {"confirm": "yes"}),
    ("/console/users", {"email": "new@example.com", "role": "member"}),
    ("/console/roles", {"role_name": "mine", "permissions": "Patient.read"}),
    ("/console/users/{user_id}", {"action": "disable", "confirm": "yes"}),
    ("/console/users/{user_id}", {"action": "role", "role": "admin"}),
    ("/console/clients", {"name": "c2", "scopes": "Patient.read", "confidential": "on"}),
    ("/console/clients/{client_id}/rotate", {"grace_seconds": "0"}),
    ("/console/clients/{client_id}/status", {"action": "disable", "confirm": "yes"}),
    ("/console/clients/{client_id}/redirect-uris", {"redirect_uris": "https://evil.example/cb"}),
    ("/console/smart-apps/new", {"name": "x", "kind": "public", "redirect_uris": "https://a.example/cb"}),
    ("/console/smart-apps/{app_id}/edit", {"name": "x", "redirect_uris": "https://evil.example/cb"}),
    ("/console/smart-apps/{app_id}/keys", {"jwks_uri": "https://evil.example/jwks"}),
    ("/console/smart-apps/{app_id}/rotate", {"grace_seconds": "0"}),
    ("/console/smart-apps/{app_id}/disable", {"confirm": "yes"}),
    ("/console/smart-apps/{app_id}/enable", {}),
    ("/console/directory/patients", {"family": "Mallory"}),
    ("/console/directory/patients/import", {}),
    ("/console/users/{user_id}/fhir-user", {"fhir_user": "Patient/{patient_id}"}),
    ("/console/exchange-users/block", {"user_id": "u-1", "action": "block", "confirm": "yes"}),
    ("/console/sessions/{session_id}/revoke", {"confirm": "yes"}),
    ("/console/signing-keys/rotate", {}),
    ("/console/signing-keys/{kid}/revoke", {"confirm": "yes"}),
]


@pytest.mark.parametrize(("path", "data"), ADMIN_POSTS, ids=[f"{p} {d.get('action', '')}" for p, d in ADMIN_POSTS])
def test_a_member_posting_an_admin_action_with_a_valid_token_is_refused(server: LiveServer, path: str,
                                                                          data: dict[str, str]) -> None:
    populated = populate(server)
    ids = populated.ids()
    with client_as(server, "mia@example.com", "member") as http:
        data = {k: v.format(**ids, patient_id=populated.patient_id) for k, v in data.items()}
        resp = post(http, path.format(**ids), data)
        assert resp.status_code == 403, resp.text[:300]
        assert "permission" in resp.text or "platform" in resp.text
    from tokensmith.apikeys.management import get_api_key
    from tokensmith.people.users import get_user
    from tokensmith.signing_keys import list_keys

    assert server.call(lambda rt: get_api_key(rt, server.tenant_id, ids["key_id"])).revoked_at is None
    assert server.call(lambda rt: get_user(rt, ids["user_id"])).status == "active"
    assert any(k["kid"] == ids["kid"] and k["status"] == "next" for k in server.call(list_keys))
    _assert_smart_untouched(server, populated)


def _assert_smart_untouched(server: LiveServer, populated: Populated) -> None:
    from tokensmith.people.users import get_user
    from tokensmith.smart.apps import list_apps
    from tokensmith.smart.directory import list_people

    [app] = server.call(lambda rt: list_apps(rt, server.tenant_id))
    assert app["active"] and app["name"] == "a" and app["redirectUris"] == ["https://app.example/cb"]
    assert app["jwksUri"] is None
    assert [p.id for p in server.call(lambda rt: list_people(rt, "Patient", server.tenant_id))] == [
        populated.patient_id]
    assert server.call(lambda rt: get_user(rt, populated.user_id)).fhir_user is None


def test_a_member_cannot_import_a_file_even_with_a_valid_token(server: LiveServer) -> None:
    populated = populate(server)
    with client_as(server, "mia@example.com", "member") as http:
        token = csrf_of(http.get("/console").text)
        resp = http.post("/console/directory/patients/import", data={"csrf_token": token}, headers=SAME,
                         files={"file": ("p.json", b'[{"name": {"family": "Mallory"}}]', "application/json")})
        assert resp.status_code == 403 and "Directory.write" in resp.text
        assert http.get("/console/smart-apps/new").status_code == 403
        assert http.get(f"/console/smart-apps/{populated.app_id}/disable").status_code == 403
        assert http.get(f"/console/clients/{populated.client_id}/disable").status_code == 403
        assert http.get(f"/console/api-keys/{populated.key_id}/revoke").status_code == 403
        assert http.get("/console/exchange-users/block").status_code == 403
        assert http.get(f"/console/sessions/{populated.session_id}/revoke").status_code == 403
        detail = http.get(f"/console/smart-apps/{populated.app_id}").text  # a member reads (App.read)...
        assert "Try it" in detail and "Disable the app" not in detail and "Rotate the secret" not in detail
        directory = http.get("/console/directory/patients").text  # ... and the directory, without forms
        assert "Bo" in directory and "Import a file" not in directory and "Add a patient" not in directory
        assert 'id="f-fhir_user"' not in http.get(f"/console/users/{populated.user_id}").text
    _assert_smart_untouched(server, populated)


def test_a_member_sees_no_admin_action_and_cannot_open_the_create_form(server: LiveServer) -> None:
    ids = populate(server).ids()
    with client_as(server, "mia@example.com", "member") as http:
        keys = http.get("/console/api-keys").text
        assert "Create an API key" not in keys
        assert "Revoke the key" not in http.get(f"/console/api-keys/{ids['key_id']}").text
        assert "Create a user" not in http.get("/console/users").text
        assert "Disable the user" not in http.get(f"/console/users/{ids['user_id']}").text
        assert "Rotate now" not in http.get("/console/signing-keys").text
        assert http.get("/console/api-keys/new").status_code == 403
        assert http.get(f"/console/signing-keys/{ids['kid']}/revoke").status_code == 403
        # what a member may do: its own user tokens
        assert "Create a user token" in http.get("/console/account").text


def test_a_tenant_admin_elsewhere_cannot_see_or_change_signing_keys(server: LiveServer) -> None:
    from tests.people.helpers import make_user
    from tests.web.helpers import signed_in
    from tokensmith.tenants.provisioning import ensure_tenant

    other = server.call(lambda rt: ensure_tenant(rt, "acme"))
    make_user(server, "boss@acme.example", role="admin", tenant_id=other.id)
    with server.client() as http:
        signed_in(http, "boss@acme.example")
        nav = http.get("/console").text
        assert "Signing keys" not in nav and "API keys" in nav
        assert http.get("/console/signing-keys").status_code == 403
        assert post(http, "/console/signing-keys/rotate").status_code == 403


def test_nobody_reaches_another_tenants_objects(server: LiveServer) -> None:
    from tests.people.helpers import make_user
    from tests.web.helpers import signed_in
    from tokensmith.tenants.provisioning import ensure_tenant

    ids = populate(server).ids()
    other = server.call(lambda rt: ensure_tenant(rt, "acme"))
    make_user(server, "boss@acme.example", role="admin", tenant_id=other.id)
    with server.client() as http:
        signed_in(http, "boss@acme.example")
        assert http.get(f"/console/api-keys/{ids['key_id']}").status_code == 404
        assert http.get(f"/console/clients/{ids['client_id']}").status_code == 404
        assert http.get(f"/console/users/{ids['user_id']}").status_code == 404
        assert post(http, f"/console/api-keys/{ids['key_id']}/revoke", {"confirm": "yes"}).status_code == 404
        assert post(http, f"/console/clients/{ids['client_id']}/status",
                    {"action": "disable", "confirm": "yes"}).status_code == 404
        assert post(http, f"/console/sessions/{ids['session_id']}/revoke", {"confirm": "yes"}).status_code == 404
        assert http.get(f"/console/smart-apps/{ids['app_id']}").status_code == 404
        assert post(http, f"/console/smart-apps/{ids['app_id']}/disable", {"confirm": "yes"}).status_code == 404
        assert post(http, f"/console/smart-apps/{ids['app_id']}/edit", {"name": "x"}).status_code == 404
        assert post(http, f"/console/users/{ids['user_id']}/fhir-user", {"fhir_user": ""}).status_code == 404
        assert post(http, f"/console/account/sessions/{ids['session_id']}/revoke",
                    {"confirm": "yes"}).status_code == 404
        assert "Bo" not in http.get("/console/directory/patients").text
