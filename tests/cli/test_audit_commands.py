"""``tokensmith audit verify`` (exit 0 on an intact chain, 1 after tampering) and ``audit export``."""

from __future__ import annotations

import itertools
import json
import sqlite3

from tests.cli.helpers import Cli, seed


def _setup(cli: Cli) -> None:
    seed(cli, ("a", "b", "c"))


def test_verify_and_export_an_intact_chain(cli: Cli) -> None:
    _setup(cli)
    result = cli("audit", "verify", "--json").json()
    assert result["ok"] is True and result["problems"] == []
    assert result["events"] >= 5
    lines = [json.loads(line) for line in cli("audit", "export").stdout.splitlines()]
    assert [e["seq"] for e in lines] == list(range(1, result["events"] + 1))
    assert result["head"] == {"seq": lines[-1]["seq"], "hash": lines[-1]["hash"]}
    assert all(e["prev_hash"] == prev["hash"] for prev, e in itertools.pairwise(lines))
    assert "audit chain OK" in cli("audit", "verify").stdout

    created = [json.loads(line) for line in cli("audit", "export", "--type", "client.created").stdout.splitlines()]
    assert [e["data"]["name"] for e in created] == ["a", "b", "c"]
    since = [json.loads(line) for line in cli("audit", "export", "--since-seq", "3").stdout.splitlines()]
    assert [e["seq"] for e in since] == list(range(4, result["events"] + 1))


def test_verify_fails_after_tampering(cli: Cli) -> None:
    _setup(cli)
    with sqlite3.connect(cli.db_path) as db:
        db.execute("UPDATE audit_events SET subject = 'someone-else' WHERE seq = 4")
    broken = cli("audit", "verify", ok=False)
    assert broken.code == 1
    assert "BROKEN" in broken.stdout and "seq 4" in broken.stdout
    doc = cli("audit", "verify", "--json", ok=False)
    assert doc.code == 1
    assert doc.json()["ok"] is False
    assert doc.json()["problems"][0]["seq"] == 4


def test_verify_fails_after_a_deletion(cli: Cli) -> None:
    _setup(cli)
    with sqlite3.connect(cli.db_path) as db:
        db.execute("DELETE FROM audit_events WHERE seq = 3")
    doc = cli("audit", "verify", "--json", ok=False)
    assert doc.code == 1
    assert {p["seq"] for p in doc.json()["problems"]} == {4}
