"""``tokensmith tenants …`` with ``--json``: one JSON document on stdout; refusals are one line on stderr."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import Cli, assert_clean_failure, seed


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def test_tenant_lifecycle_from_the_cli(cli: Cli) -> None:
    seed(cli)
    created = cli("tenants", "create", "north", "--name", "North clinics", "--admin-email", "boss@north.example",
                  "--rate-limit", "60", "--json").json()
    assert created["slug"] == "north" and created["defaultRateLimit"] == 60 and created["status"] == "active"
    assert created["admin"]["email"] == "boss@north.example" and len(created["admin"]["password"]) >= 20
    assert [t["slug"] for t in cli("tenants", "list", "--json").json()] == ["default", "north"]
    shown = cli("tenants", "show", "north", "--json").json()
    assert shown["contents"]["users"] == 1 and shown["id"] == created["id"]
    updated = cli("tenants", "update", created["id"], "--name", "North", "--clear-rate-limit", "--json").json()
    assert updated["name"] == "North" and updated["defaultRateLimit"] is None
    assert cli("tenants", "disable", "north", "--json").json()["status"] == "disabled"
    assert cli("tenants", "enable", "north", "--json").json()["status"] == "active"
    assert_clean_failure(cli("tenants", "delete", "north", ok=False), "disable it first")
    cli("tenants", "disable", "north")
    assert cli("tenants", "delete", "north", "--json").json()["deleted"] is True
    assert_clean_failure(cli("tenants", "show", "north", ok=False), "does not exist")


def test_refusals_are_clean(cli: Cli) -> None:
    seed(cli)
    cli("tenants", "create", "one", "--name", "One", "--admin-email", "a@one.example")
    for args, fragment in ((("create", "one", "--name", "x", "--admin-email", "b@one.example"), "already exists"),
                           (("create", "Two!", "--name", "x", "--admin-email", "c@x.example"), "slug"),
                           (("create", "two", "--name", "x", "--admin-email", "c@x.example",
                             "--admin-password", "short"), "password"),
                           (("disable", "default"), "cannot be disabled"),
                           (("delete", "default"), "cannot be deleted")):
        result = cli("tenants", *args, "--json", ok=False)
        assert result.code == 1
        assert_clean_failure(result, fragment)
