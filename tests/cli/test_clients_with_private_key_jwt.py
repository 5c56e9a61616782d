"""``tokensmith clients create --jwks FILE|- / --jwks-uri URL``: an OAuth client that authenticates with
``private_key_jwt`` (SPEC §B) — no secret is made, the keys are checked at creation (public RSA/EC only,
a fetchable URL), and a running server then accepts the client's signed assertions."""

from __future__ import annotations

import json

from tests.cli.helpers import Cli, assert_clean_failure
from tests.smart.helpers import KeyPair, backend_token
from tests.support import TEST_MASTER_KEY, LiveServer, make_settings


def test_a_client_created_with_a_jwks_file_gets_tokens_with_assertions(cli: Cli) -> None:
    cli.env["TOKENSMITH_MASTER_KEY"] = TEST_MASTER_KEY
    cli("init")
    es, rs = KeyPair("ES384"), KeyPair("RS384")
    (cli.workdir / "keys.json").write_text(json.dumps(es.jwks()))
    made = cli("clients", "create", "--name", "reports", "--scope", "reports.read", "--jwks", "keys.json",
               "--json").json()
    assert "client_secret" not in made and made["token_endpoint_auth_method"] == "private_key_jwt"
    piped = cli("clients", "create", "--name", "billing", "--scope", "reports.read", "--jwks", "-", "--json",
                stdin=json.dumps(rs.jwks())).json()
    human = cli("clients", "create", "--name", "h", "--jwks", "keys.json").stdout
    assert "private_key_jwt" in human and "client_secret" not in human
    with LiveServer(make_settings(f"sqlite+aiosqlite:///{cli.db_path}")) as server, server.client() as http:
        aud = server.settings.issuer + "/oauth/token"
        for client_id, key in ((made["client_id"], es), (piped["client_id"], rs)):
            resp = backend_token(http, client_id, key.assertion(client_id, aud))
            assert resp.status_code == 200, resp.text
            assert resp.json()["scope"] == "reports.read"
        assert backend_token(http, made["client_id"], rs.assertion(made["client_id"], aud)).status_code == 401


def test_a_client_with_a_jwks_uri_is_registered_for_private_key_jwt(cli: Cli) -> None:
    made = cli("clients", "create", "--name", "svc", "--jwks-uri", "https://keys.example.com/jwks.json",
               "--json").json()
    assert made["token_endpoint_auth_method"] == "private_key_jwt" and "client_secret" not in made


def test_unusable_keys_and_contradicting_options_fail_cleanly(cli: Cli) -> None:
    key = KeyPair()
    (cli.workdir / "private.json").write_text(json.dumps({"keys": [key.private]}))
    (cli.workdir / "junk.json").write_text("[1, 2]")
    cases = [
        (("--jwks", "private.json"), "public"),
        (("--jwks", "junk.json"), "JWK Set"),
        (("--jwks", "missing.json"), "cannot read"),
        (("--jwks-uri", "ftp://keys.example.com/k"), "https"),
        (("--jwks", "private.json", "--jwks-uri", "https://keys.example.com/k"), "exclude"),
        (("--jwks-uri", "https://keys.example.com/k", "--public"), "--public"),
        (("--jwks-uri", "https://keys.example.com/k", "--auth-method", "client_secret_post"), "private_key_jwt"),
    ]
    for options, fragment in cases:
        assert_clean_failure(cli("clients", "create", "--name", "x", *options, ok=False), fragment)
    assert cli("clients", "list", "--json").json() == []


def test_help_advertises_the_key_options(cli: Cli) -> None:
    out = cli("clients", "create", "--help").stdout
    assert "--jwks" in out and "--jwks-uri" in out and "private_key_jwt" in out
