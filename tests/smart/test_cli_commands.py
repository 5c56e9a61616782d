"""The real ``tokensmith`` command (subprocess, SQLite file): ``apps create|list|disable`` (``--json`` is
exactly the ``POST /smart/apps`` body), ``patients|practitioners import`` from JSON and CSV, and
``users update --fhir-user``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.helpers import Cli, assert_clean_failure, seed
from tests.smart.helpers import KeyPair


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    c = Cli(tmp_path)
    seed(c)
    return c


def test_apps_create_list_disable(cli: Cli, tmp_path: Path) -> None:
    created = cli("apps", "create", "--name", "Chart", "--redirect-uri", "https://app.example/cb", "--scope",
                  "launch openid patient/*.read", "--json").json()
    assert list(created)[:3] == ["id", "clientId", "clientSecret"]
    assert created["redirectUris"] == ["https://app.example/cb"] and created["profile"] == "confidential-symmetric"
    assert created["scopes"] == ["launch", "openid", "patient/*.read"]
    public = cli("apps", "create", "--name", "Pub", "--public", "--redirect-uri", "http://127.0.0.1:7000/cb",
                 "--json").json()
    assert "clientSecret" not in public and public["tokenEndpointAuthMethod"] == "none"
    (tmp_path / "jwks.json").write_text(json.dumps(KeyPair().jwks()))
    backend = cli("apps", "create", "--name", "Export", "--jwks", str(tmp_path / "jwks.json"), "--scope",
                  "system/*.rs", "--json").json()
    assert backend["profile"] == "backend-service" and backend["accessTokenTtl"] <= 300
    listed = cli("apps", "list", "--json").json()
    assert [a["clientId"] for a in listed] == [created["clientId"], public["clientId"], backend["clientId"]]
    assert "clientSecret" not in json.dumps(listed)
    disabled = cli("apps", "disable", created["clientId"], "--json").json()
    assert disabled["active"] is False and disabled["id"] == created["id"]
    assert "disabled" in cli("apps", "list").stdout


def test_apps_create_refusals_are_one_clean_line(cli: Cli) -> None:
    bad = cli("apps", "create", "--name", "X", "--redirect-uri", "https://a.example/cb#f", ok=False)
    assert_clean_failure(bad, "redirectUris", "fragment")
    scope = cli("apps", "create", "--name", "X", "--redirect-uri", "https://a.example/cb", "--scope", "x/y",
                "--json", ok=False)
    assert_clean_failure(scope, "not a SMART scope")
    missing = cli("apps", "disable", "nope", ok=False)
    assert_clean_failure(missing, "app not found")


def test_directory_import_from_json_and_csv(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text(json.dumps([
        {"id": "p1", "name": {"given": ["Ann"], "family": "Lee"}, "birthDate": "1970-01-02"},
        {"resourceType": "Patient", "id": "p2", "name": [{"given": ["Bo"], "family": "Ng"}]},
    ]))
    assert cli("patients", "import", str(tmp_path / "p.json"), "--json").json() == {"created": 2, "updated": 0}
    (tmp_path / "p.csv").write_text("id,given,family,birthDate\np2,Bo Jr,Ng,2001-05\np3,Cy,Ode,\n")
    assert cli("patients", "import", str(tmp_path / "p.csv"), "--json").json() == {"created": 1, "updated": 1}
    (tmp_path / "d.csv").write_text("id,given,family,birthDate\ndr1,Greg,House,\n")
    assert "1 created, 0 updated" in cli("practitioners", "import", str(tmp_path / "d.csv")).stdout
    (tmp_path / "bad.json").write_text(json.dumps([{"id": "p9", "name": {"family": "A"}},
                                                   {"id": "bad id", "name": {"family": "B"}}]))
    refused = cli("patients", "import", str(tmp_path / "bad.json"), ok=False)
    assert_clean_failure(refused, "1.id")
    again = cli("patients", "import", str(tmp_path / "bad.json"), ok=False)  # nothing of it was imported
    assert_clean_failure(again, "1.id")
    (tmp_path / "x.json").write_text(json.dumps([{"id": "p9", "name": {"family": "A"}}]))
    assert cli("patients", "import", str(tmp_path / "x.json"), "--json").json() == {"created": 1, "updated": 0}
    assert_clean_failure(cli("patients", "import", str(tmp_path / "missing.json"), ok=False), "cannot read")


def test_users_update_fhir_user(cli: Cli, tmp_path: Path) -> None:
    cli("users", "create", "--email", "dr@example.com", "--password", "a-long-password-1", "--role", "member")
    (tmp_path / "d.csv").write_text("id,given,family,birthDate\ndr1,Greg,House,\n")
    cli("practitioners", "import", str(tmp_path / "d.csv"))
    linked = cli("users", "update", "dr@example.com", "--fhir-user", "Practitioner/dr1", "--json").json()
    assert linked["fhirUser"] == "Practitioner/dr1"
    assert_clean_failure(cli("users", "update", "dr@example.com", "--fhir-user", "Patient/dr1", ok=False),
                         "fhirUser")
    assert cli("users", "update", "dr@example.com", "--fhir-user", "", "--json").json()["fhirUser"] is None
