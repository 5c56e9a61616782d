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


def test_checkpoint_archive_prune_and_verify_from_the_command_line(cli: Cli) -> None:
    import gzip

    _setup(cli)
    made = cli("audit", "checkpoint", "--json").json()
    assert made["seq"] >= 5 and made["jws"].count(".") == 2
    archived = cli("audit", "archive", "--before", "2100-01-01", "--to", str(cli.workdir), "--prune",
                   "--json").json()
    assert (archived["first_seq"], archived["last_seq"], archived["pruned"]) == (1, made["seq"], made["seq"])
    path = archived["path"]
    assert cli("audit", "verify", "--json").json()["anchor"] == f"checkpoint of seq {made['seq']}"
    assert cli("audit", "verify", "--archive", path, "--json").json()["ok"] is True
    assert cli("audit", "verify", "--since-checkpoint", "--json").json()["ok"] is True

    with gzip.open(path, "rb") as fh:
        lines = fh.read().splitlines()
    lines[3] = lines[3].replace(b'"seq":3', b'"seq":3,"x":1').replace(b'"type":"', b'"type":"x')
    with gzip.open(path, "wb") as fh:
        fh.write(b"\n".join(lines) + b"\n")
    broken = cli("audit", "verify", "--archive", path, ok=False)
    assert broken.code == 1 and "seq 3" in broken.stdout

    again = cli("audit", "archive", "--before", "2100-01-01", "--to", path, ok=False)
    assert again.code == 1 and again.stderr.startswith("error: ") and "Traceback" not in again.stderr
    bad = cli("audit", "archive", "--before", "someday", "--to", path, ok=False)
    assert bad.code == 2 and "ISO 8601" in bad.stderr
