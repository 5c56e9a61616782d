"""``tokensmith apikeys create|list|show|rotate|revoke`` (the real command, as a subprocess)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.cli.helpers import Cli


def test_apikeys_commands(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    cli("init")
    created = cli("apikeys", "create", "--name", "Production Server", "--scope", "Patient.read Observation.read",
                  "--rate-limit", "60", "--json")
    assert created.stderr == "" or "Traceback" not in created.stderr
    body = created.json()  # exactly one JSON document on stdout, the body of POST /api-keys
    assert list(body) == ["id", "name", "clientId", "secret", "scopes", "expiresAt", "active", "rateLimit",
                          "createdAt"]
    assert re.fullmatch(r"[0-9a-f]{32}", body["clientId"]) and re.fullmatch(r"[0-9a-f]{48}", body["secret"])
    assert body["scopes"] == ["Patient.read", "Observation.read"] and body["rateLimit"] == 60

    listed = cli("apikeys", "list", "--json").json()
    assert [k["id"] for k in listed] == [body["id"]] and "secret" not in listed[0]
    assert body["secret"] not in cli("apikeys", "list").stdout
    shown = cli("apikeys", "show", body["clientId"], "--json").json()
    assert shown["id"] == body["id"]

    rotated = cli("apikeys", "rotate", body["id"], "--grace", "60", "--json").json()
    assert rotated["secret"] != body["secret"] and rotated["previousSecretExpiresAt"]
    human = cli("apikeys", "rotate", body["id"])
    assert "shown once" in human.stdout

    revoked = cli("apikeys", "revoke", body["id"], "--json").json()
    assert revoked["revokedAt"] and revoked["active"] is False
    assert cli("apikeys", "list", "--json").json() == []
    assert len(cli("apikeys", "list", "--include-revoked", "--json").json()) == 1

    missing = cli("apikeys", "revoke", "no-such-key", ok=False)
    assert missing.code != 0 and missing.stdout == "" and "API key not found" in missing.stderr
    bad = cli("apikeys", "create", "--name", "x", "--scope", 'a"b', "--json", ok=False)
    assert bad.code != 0 and bad.stdout == "" and bad.stderr.strip() == "error: scopes: invalid scope 'a\"b'"
    expired = cli("apikeys", "create", "--name", "x", "--expires-at", "2001-01-01", "--json", ok=False)
    assert expired.code != 0 and expired.stderr.strip() == "error: expiresAt: must be in the future"
