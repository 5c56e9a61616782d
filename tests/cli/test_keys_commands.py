"""``tokensmith keys rotate|list|revoke``."""

from __future__ import annotations

from tests.cli.helpers import Cli, assert_clean_failure, seed


def test_rotate_list_revoke(cli: Cli) -> None:
    seed(cli)
    before = {k["status"]: k["kid"] for k in cli("keys", "list", "--json").json()}
    rotated = cli("keys", "rotate", "--json").json()
    # the pre-published next key becomes active; the old active key is retired but still published
    assert rotated["active"] == before["next"]
    assert rotated["retired"] == before["active"]
    keys = {k["kid"]: k for k in cli("keys", "list", "--json").json()}
    assert keys[before["active"]]["status"] == "retired"
    assert keys[before["active"]]["publish_until"] is not None
    assert keys[rotated["next"]]["status"] == "next"

    revoked = cli("keys", "revoke", "--json", "--", before["active"]).json()
    assert revoked == {"kid": before["active"], "status": "revoked"}
    keys = {k["kid"]: k for k in cli("keys", "list", "--json").json()}
    assert keys[before["active"]]["status"] == "revoked"
    assert_clean_failure(cli("keys", "revoke", "--", before["active"], ok=False), "already revoked")
    assert_clean_failure(cli("keys", "revoke", "no-such-kid", ok=False), "does not exist")

    # revoking the active key promotes the next one at once
    cli("keys", "revoke", "--", rotated["active"])
    statuses = sorted(k["status"] for k in cli("keys", "list", "--json").json())
    assert statuses.count("active") == 1 and statuses.count("next") == 1


def test_rotate_to_another_algorithm(cli: Cli) -> None:
    seed(cli)
    rotated = cli("keys", "rotate", "--alg", "RS256", "--json").json()
    algs = {k["kid"]: k["alg"] for k in cli("keys", "list", "--json").json()}
    assert algs[rotated["active"]] == "RS256"
    assert algs[rotated["next"]] == "RS256"
    assert "active" in cli("keys", "list").stdout
