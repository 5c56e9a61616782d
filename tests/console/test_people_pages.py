"""Users and roles (create with errors next to the fields, change role, disable with confirmation, reset
TOTP), the users seen by the session exchange (block, unblock, block in advance) and the tenant's sessions
(filter by user and kind, revoke)."""

from __future__ import annotations

import re

import pyotp

from tests.console.helpers import client_as, post, secret_of
from tests.people.helpers import make_user
from tests.support import LiveServer
from tests.web.helpers import page_signin, signed_in
from tokensmith.people.users import get_user, list_users


def test_an_admin_creates_a_user_and_sees_errors_next_to_the_fields(server: LiveServer) -> None:
    with client_as(server, "ada@example.com", "admin") as http:
        bad = post(http, "/console/users", {"email": "not an address", "role": "member"})
        assert bad.status_code == 400 and 'id="e-email"' in bad.text and 'value="not an address"' in bad.text
        done = post(http, "/console/users", {"email": "new@example.com", "role": "developer",
                                             "password": "a long enough password"})
        assert done.status_code == 303
        listing = http.get("/console/users").text
        assert "new@example.com" in listing and "developer" in listing
    with server.client() as fresh:
        assert page_signin(fresh, "new@example.com", "a long enough password").status_code == 303


def test_a_user_created_without_a_password_gets_a_generated_one_shown_once(server: LiveServer) -> None:
    with client_as(server, "ada@example.com", "admin") as http:
        created = post(http, "/console/users", {"email": "nia@example.com", "role": "member", "password": ""})
        assert created.status_code == 200 and "shown only this once" in created.text
        assert 'data-copy-target="secret"' in created.text and "console.js" in created.text
        password = secret_of(created.text)
        assert len(password) >= server.settings.password_min_length
        user_id = re.search(r'href="/console/users/([^"]+)">Go to the user', created.text).group(1)  # type: ignore[union-attr]
        assert password not in http.get(f"/console/users/{user_id}").text
        assert password not in http.get("/console/users").text
        other = post(http, "/console/users", {"email": "noa@example.com", "role": "member"})
        assert secret_of(other.text) != password
    with server.client() as fresh:
        assert page_signin(fresh, "nia@example.com", password).status_code == 303
    from tests.web.helpers import rows
    from tokensmith.storage.models import User

    [stored] = rows(server, User, email="nia@example.com")
    assert stored.password_hash and password not in stored.password_hash  # only its hash is kept


def test_nobody_grants_a_role_beyond_their_own(server: LiveServer) -> None:
    with client_as(server, "ada@example.com", "admin") as http:
        resp = post(http, "/console/users", {"email": "boss@example.com", "role": "owner"})
        assert resp.status_code == 403 and "you cannot grant permissions you do not hold" in resp.text


def test_role_change_disable_with_confirmation_and_totp_reset(server: LiveServer) -> None:
    target = make_user(server, "tim@example.com", role="member")
    with client_as(server, "ada@example.com", "admin") as http:
        path = f"/console/users/{target.id}"
        assert post(http, path, {"action": "role", "role": "developer"}).status_code == 303
        assert "Role <strong>developer</strong>" in http.get(path).text
        unconfirmed = post(http, path, {"action": "disable"})
        assert unconfirmed.status_code == 400 and "Tick the box to confirm" in unconfirmed.text
        assert post(http, path, {"action": "disable", "confirm": "yes"}).status_code == 303
        assert "disabled" in http.get(path).text
        with server.client() as tim:
            assert page_signin(tim, "tim@example.com").status_code in (401, 403)
        assert post(http, path, {"action": "enable"}).status_code == 303
        _enable_totp(server, target.id)
        assert post(http, path, {"action": "reset_totp"}).status_code == 400
        assert post(http, path, {"action": "reset_totp", "confirm": "yes"}).status_code == 303
        assert "Two-factor authentication is reset" in http.get(path + "?done=totp").text
        assert server.call(lambda rt: get_user(rt, target.id)).totp_enabled is False
        me = next(u for u in server.call(lambda rt: list_users(rt, server.tenant_id)) if u.email == "ada@example.com")
        assert post(http, f"/console/users/{me.id}", {"action": "disable", "confirm": "yes"}).status_code == 403


def _enable_totp(server: LiveServer, user_id: str) -> None:
    from tokensmith.people import totp

    secret = server.call(lambda rt: totp.begin_setup(rt, user_id))["secret"]
    server.call(lambda rt: totp.enable(rt, user_id, pyotp.TOTP(secret).now()))


def test_exchange_users_are_blocked_and_unblocked(server: LiveServer) -> None:
    with client_as(server, "ada@example.com", "admin") as http:
        assert "Nobody yet" in http.get("/console/exchange-users").text
        confirm = http.get("/console/exchange-users/block", params={"user_id": "u-9"})
        assert confirm.status_code == 200 and 'value="u-9"' in confirm.text and 'name="confirm"' in confirm.text
        unticked = post(http, "/console/exchange-users/block", {"user_id": "u-9", "action": "block"})
        assert unticked.status_code == 400 and 'id="e-confirm"' in unticked.text
        assert "u-9" not in http.get("/console/exchange-users?blocked=yes").text
        assert post(http, "/console/exchange-users/block",
                    {"user_id": "u-9", "action": "block", "confirm": "yes"}).status_code == 303
        blocked = http.get("/console/exchange-users?blocked=yes").text
        assert "u-9" in blocked and "Unblock" in blocked
        assert post(http, "/console/exchange-users/block", {"user_id": "u-9", "action": "unblock"}).status_code == 303
        assert "u-9" not in http.get("/console/exchange-users?blocked=yes").text
        empty = post(http, "/console/exchange-users/block", {"user_id": " ", "action": "block", "confirm": "yes"})
        assert empty.status_code == 400 and 'id="e-user_id"' in empty.text


def test_tenant_sessions_filter_and_revoke(server: LiveServer) -> None:
    make_user(server, "tim@example.com", role="member")
    with client_as(server, "ada@example.com", "admin") as http, server.client() as tim:
        signed_in(tim, "tim@example.com")
        everyone = http.get("/console/sessions").text
        assert "<td>tim@example.com" in everyone and "<td>ada@example.com" in everyone
        only_tim = http.get("/console/sessions", params={"user": "tim@example.com"}).text
        assert "<td>ada@example.com" not in only_tim and "<td>tim@example.com" in only_tim
        assert "No live session matches" in http.get("/console/sessions", params={"user": "x@example.com"}).text
        assert "No live session matches" in http.get("/console/sessions", params={"kind": "user_token"}).text
        sid = re.search(r'/console/sessions/([^/]+)/revoke', only_tim).group(1)  # type: ignore[union-attr]
        confirm = http.get(f"/console/sessions/{sid}/revoke").text
        assert "Revoke this session?" in confirm and "tim@example.com" in confirm
        assert post(http, f"/console/sessions/{sid}/revoke").status_code == 400
        assert tim.get("/console").status_code == 200  # not without the confirmation
        assert post(http, f"/console/sessions/{sid}/revoke", {"confirm": "yes"}).status_code == 303
        assert tim.get("/console").status_code == 303  # tim is signed out


def test_a_custom_role_is_created_within_the_creators_permissions(server: LiveServer) -> None:
    with client_as(server, "ada@example.com", "admin") as http:
        bad_name = post(http, "/console/roles", {"role_name": "Bad Name", "permissions": "Patient.read"})
        assert bad_name.status_code == 400 and 'id="e-role_name"' in bad_name.text
        done = post(http, "/console/roles", {"role_name": "auditor", "permissions": "Audit.read ApiKey.read"})
        assert done.status_code == 303
        users = http.get("/console/users").text
        assert "auditor" in users and "Audit.read ApiKey.read" in users
        assert post(http, "/console/roles", {"role_name": "auditor", "permissions": "Audit.read"}).status_code == 409
    with client_as(server, "dev@example.com", "developer") as http:
        assert post(http, "/console/roles", {"role_name": "x", "permissions": "Audit.read"}).status_code == 403
