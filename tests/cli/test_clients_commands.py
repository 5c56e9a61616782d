"""``tokensmith clients create|list|disable|enable|rotate-secret``: scriptable (``--json``), and what the
commands do takes effect in a running server that shares the database."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from tests.cli.helpers import Cli, assert_clean_failure, seed
from tests.support import TEST_MASTER_KEY, LiveServer, make_settings


def _eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def _token(http: httpx.Client, client_id: str, secret: str) -> httpx.Response:
    return http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))


def _active(http: httpx.Client, token: str, client_id: str, secret: str) -> bool:
    return http.post("/oauth/introspect", data={"token": token}, auth=(client_id, secret)).json()["active"]


def test_client_lifecycle_through_the_cli(cli: Cli) -> None:
    cli.env["TOKENSMITH_MASTER_KEY"] = TEST_MASTER_KEY  # the in-process server below uses the same key
    cli("init")
    created = cli("clients", "create", "--name", "billing", "--scope", "Patient.read Observation.read",
                  "--lifetime", "2592000", "--json")
    assert created.stdout.count("\n") == 1
    client = created.json()
    cid, secret = client["client_id"], client["client_secret"]
    assert client["scopes"] == ["Patient.read", "Observation.read"]
    assert client["access_token_ttl"] == 2592000
    other = cli("clients", "create", "--name", "reports", "--token-format", "opaque", "--json").json()
    # helper client, to introspect with after `billing` is disabled
    helper = cli("clients", "create", "--name", "introspector", "--json").json()

    listed = cli("clients", "list", "--json").json()
    assert {c["client_id"] for c in listed} == {cid, other["client_id"], helper["client_id"]}
    assert all("client_secret" not in c for c in listed)
    assert secret not in cli("clients", "list", "--json").stdout
    assert "billing" in cli("clients", "list").stdout

    settings = make_settings(f"sqlite+aiosqlite:///{cli.db_path}")
    with LiveServer(settings) as server, server.client() as http:
        resp = _token(http, cid, secret)
        assert resp.status_code == 200, resp.text
        assert resp.json()["expires_in"] == 2592000
        token = resp.json()["access_token"]

        assert cli("clients", "disable", cid, "--json").json() == {"client_id": cid, "status": "disabled"}
        _eventually(lambda: not _active(http, token, helper["client_id"], helper["client_secret"]))
        _eventually(lambda: _token(http, cid, secret).status_code == 401)

        assert cli("clients", "enable", cid, "--json").json() == {"client_id": cid, "status": "active"}
        _eventually(lambda: _token(http, cid, secret).status_code == 200)
        assert not _active(http, token, helper["client_id"], helper["client_secret"])  # stays dead

        rotated = cli("clients", "rotate-secret", cid, "--json").json()
        assert rotated["client_id"] == cid and rotated["client_secret"] != secret
        _eventually(lambda: _token(http, cid, secret).status_code == 401)
        assert _token(http, cid, rotated["client_secret"]).status_code == 200

        graced = cli("clients", "rotate-secret", cid, "--grace", "600", "--json").json()
        _eventually(lambda: _token(http, cid, graced["client_secret"]).status_code == 200)
        assert _token(http, cid, rotated["client_secret"]).status_code == 200  # still inside the grace period

    statuses = {c["client_id"]: c["status"] for c in cli("clients", "list", "--json").json()}
    assert statuses[cid] == "active"


def test_human_output_shows_the_secret_once(cli: Cli) -> None:
    out = cli("clients", "create", "--name", "x").stdout
    assert "client_id:" in out and "client_secret:" in out and "shown once" in out
    assert "disabled" in cli("clients", "disable", out.split()[1]).stdout


def test_commands_on_a_missing_client_fail_cleanly(cli: Cli) -> None:
    seed(cli)
    for command in (["clients", "disable", "nope"], ["clients", "enable", "nope"],
                    ["clients", "rotate-secret", "nope"], ["clients", "disable", "nope", "--json"]):
        assert_clean_failure(cli(*command, ok=False), "client 'nope' does not exist")


def test_invalid_client_options_fail_cleanly(cli: Cli) -> None:
    cli("clients", "create", "--name", "a", "--client-id", "fixed-id")
    assert_clean_failure(cli("clients", "create", "--name", "b", "--client-id", "fixed-id", ok=False), "taken")
    assert_clean_failure(cli("clients", "create", "--name", "b", "--token-format", "paper", ok=False), "format")
    assert_clean_failure(cli("clients", "create", "--name", "b", "--lifetime", "-1", ok=False), "lifetime")
    assert_clean_failure(cli("clients", "create", "--name", "b", "--tenant", "nowhere", ok=False), "nowhere")
    assert_clean_failure(cli("clients", "rotate-secret", "fixed-id", "--grace", "-5", ok=False), "grace")


def test_create_with_export_sets_the_shell_variables(cli: Cli) -> None:
    """``eval "$(tokensmith clients create … --export)"`` leaves CLIENT_ID and CLIENT_SECRET in the shell."""
    import subprocess

    from tests.cli.helpers import TOKENSMITH

    cli.env["TOKENSMITH_MASTER_KEY"] = TEST_MASTER_KEY  # the in-process server below uses the same key
    cli("init")
    script = (f'eval "$({TOKENSMITH} clients create --name billing --scope "a.read b.read" --export)"\n'
              'printf "%s\\n%s\\n" "$CLIENT_ID" "$CLIENT_SECRET"\n')
    done = subprocess.run(["bash", "-c", "set -euo pipefail\n" + script], cwd=cli.workdir, env=cli.env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    client_id, secret = done.stdout.splitlines()
    listed = {c["client_id"]: c for c in cli("clients", "list", "--json").json()}
    assert listed[client_id]["name"] == "billing" and len(secret) >= 32

    with LiveServer(make_settings(cli.env["TOKENSMITH_DATABASE_URL"]), init=False) as live, live.client() as http:
        assert _token(http, client_id, secret).status_code == 200


def test_create_refuses_json_and_export_together(cli: Cli) -> None:
    result = cli("clients", "create", "--name", "x", "--json", "--export", ok=False)
    assert_clean_failure(result, "--json and --export exclude each other")
    assert result.code == 2
