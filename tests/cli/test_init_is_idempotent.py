"""``tokensmith init`` sets up everything once and changes nothing when run again; ``--json`` prints one
JSON document on stdout and nothing else there."""

from __future__ import annotations

import json

from tests.cli.helpers import Cli, assert_clean_failure

PASSWORD = "correct horse battery staple"


def test_init_twice_creates_everything_once(cli: Cli) -> None:
    first = cli("init", "--admin-email", "Admin@Example.com", "--admin-password", PASSWORD, "--json")
    doc = json.loads(first.stdout)  # exactly one JSON document, nothing else on stdout
    assert first.stdout.count("\n") == 1
    assert doc["tenant"] == "default"
    assert doc["signing_key_created"] is True
    assert doc["admin_created"] is True
    assert doc["admin_email"] == "admin@example.com"
    assert PASSWORD not in first.stdout + first.stderr

    again = cli("init", "--admin-email", "admin@example.com", "--admin-password", PASSWORD, "--json")
    doc2 = again.json()
    assert doc2["tenant_id"] == doc["tenant_id"]
    assert doc2["signing_key_created"] is False
    assert doc2["admin_created"] is False

    keys = cli("keys", "list", "--json").json()
    assert sorted(k["status"] for k in keys) == ["active", "next"]
    events = [json.loads(line)["type"] for line in cli("audit", "export").stdout.splitlines()]
    assert events.count("user.created") == 1
    assert events.count("tenant.created") == 1
    assert events.count("signing_key.created") == 1


def test_init_without_arguments_and_human_output(cli: Cli) -> None:
    result = cli("init")
    assert "database ready" in result.stdout
    assert cli("init").code == 0


def test_the_password_may_come_from_the_environment(cli: Cli) -> None:
    doc = cli("init", "--admin-email", "ops@example.com", "--json",
              env={"TOKENSMITH_ADMIN_PASSWORD": PASSWORD}).json()
    assert doc["admin_created"] is True


def test_init_refuses_an_admin_without_a_usable_password_or_email(cli: Cli) -> None:
    assert_clean_failure(cli("init", "--admin-email", "a@example.com", ok=False), "password")
    assert_clean_failure(cli("init", "--admin-email", "a@example.com", "--admin-password", "short", ok=False),
                         "at least")
    assert_clean_failure(cli("init", "--admin-email", "not-an-email", "--admin-password", PASSWORD, ok=False),
                         "e-mail")
    # nothing half-done: a correct run afterwards creates the admin
    assert cli("init", "--admin-email", "a@example.com", "--admin-password", PASSWORD, "--json").json()[
        "admin_created"] is True
