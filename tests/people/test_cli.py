"""``tokensmith users|roles|sessions|usertokens``: scriptable (``--json`` prints one document), and what
the CLI creates works against the running service."""

from __future__ import annotations

from pathlib import Path

from tests.cli.helpers import Cli, assert_clean_failure
from tests.people.helpers import bearer, login
from tests.support import TEST_MASTER_KEY, LiveServer, make_settings

PASSWORD = "a long enough password"


def test_people_commands_end_to_end(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    cli.env["TOKENSMITH_MASTER_KEY"] = TEST_MASTER_KEY
    cli("init", "--admin-email", "root@example.com", "--admin-password", PASSWORD)

    role = cli("roles", "create", "auditor", "-p", "Audit.read", "-p", "*.read", "--json").json()
    assert role["name"] == "auditor" and role["permissions"] == ["Audit.read", "*.read"]
    assert {r["name"] for r in cli("roles", "list", "--json").json()} >= {"owner", "admin", "member", "auditor"}

    user = cli("users", "create", "--email", "Bob@Example.com", "--role", "developer", "--project-permission",
               "alpha:Patient.read", "--json", env={"TOKENSMITH_USER_PASSWORD": PASSWORD}).json()
    assert user["email"] == "bob@example.com" and user["role"] == "developer"
    assert user["projectPermissions"] == ["alpha:Patient.read"]
    changed = cli("users", "set-role", "bob@example.com", "auditor", "--json").json()
    assert changed["role"] == "auditor"
    listed = cli("users", "list", "--json").json()
    assert {u["email"]: u["role"] for u in listed} == {"root@example.com": "owner", "bob@example.com": "auditor"}

    created = cli("usertokens", "create", "--user", "bob@example.com", "--name", "ci", "--json").json()
    assert len(created["token"]) == 64 and created["name"] == "ci" and created["userId"] == user["id"]
    tokens_listed = cli("usertokens", "list", "--json").json()
    assert [t["id"] for t in tokens_listed] == [created["id"]] and "token" not in tokens_listed[0]

    with LiveServer(make_settings(f"sqlite+aiosqlite:///{cli.db_path}")) as server, server.client() as http:
        exchanged = http.post("/api/user/oauth2/token",
                              data={"grant_type": "refresh_token", "refresh_token": created["token"]})
        assert exchanged.status_code == 200 and exchanged.json()["role"] == "auditor"
        assert login(http, "bob@example.com", PASSWORD).status_code == 200

    sessions = cli("sessions", "list", "--user", "bob@example.com", "--json").json()
    assert {s["kind"] for s in sessions} == {"login", "user_token"}
    login_sid = next(s["id"] for s in sessions if s["kind"] == "login")
    assert cli("sessions", "revoke", login_sid, "--json").json()["revoked"] is True
    assert [s["kind"] for s in cli("sessions", "list", "--json").json()] == ["user_token"]

    purged = cli("sessions", "purge", "--older-than-days", "0", "--json").json()
    assert purged == {"sessions": 1, "refreshTokens": 1, "mfaTokens": 0}  # the revoked sign-in

    cli("usertokens", "revoke", created["id"])
    assert cli("usertokens", "list", "--json").json() == []
    disabled = cli("users", "disable", "bob@example.com", "--json").json()
    assert disabled["status"] == "disabled"

    with LiveServer(make_settings(f"sqlite+aiosqlite:///{cli.db_path}")) as server, server.client() as http:
        assert http.post("/api/user/oauth2/token", data={"grant_type": "refresh_token",
                                                         "refresh_token": created["token"]}).status_code == 410
        assert login(http, "bob@example.com", PASSWORD).status_code == 403
        root = login(http, "root@example.com", PASSWORD).json()["accessToken"]
        assert http.get("/users/me", headers=bearer(root)).json()["role"] == "owner"


def test_people_commands_fail_cleanly(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    cli("init", "--admin-email", "root@example.com", "--admin-password", PASSWORD)
    assert_clean_failure(cli("users", "disable", "root@example.com", ok=False), "at least one active owner")
    assert_clean_failure(cli("users", "set-role", "nobody@example.com", "admin", ok=False), "not found")
    assert_clean_failure(cli("users", "create", "--email", "x@example.com", "--password", "short", ok=False),
                         "at least 12 characters")
    assert_clean_failure(cli("roles", "create", "Bad Name", ok=False), "role name")
