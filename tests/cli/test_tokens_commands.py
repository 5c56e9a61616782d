"""``tokensmith tokens purge`` is scriptable like the other commands."""

from __future__ import annotations

import re

from tests.cli.helpers import Cli


def test_tokens_purge_reports_what_it_deleted(cli: Cli) -> None:
    cli("init")
    assert cli("tokens", "purge", "--json").json() == {"accessTokens": 0, "revocationEntries": 0}
    human = cli("tokens", "purge", "--older-than-days", "0").stdout  # init's key-change notice goes too
    assert re.fullmatch(r"purged 0 access tokens, \d+ revocation entries\n", human), human


def test_tokens_purge_refuses_a_negative_margin(cli: Cli) -> None:
    cli("init")
    result = cli("tokens", "purge", "--older-than-days", "-1", ok=False)
    assert result.code == 2
    assert "Traceback" not in result.stderr and result.stdout == ""
