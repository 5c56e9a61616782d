"""``tokensmith tokens purge`` is scriptable like the other commands."""

from __future__ import annotations

from tests.cli.helpers import Cli


def test_tokens_purge_reports_what_it_deleted(cli: Cli) -> None:
    cli("init")
    assert cli("tokens", "purge", "--json").json() == {"accessTokens": 0, "revocationEntries": 0}
    human = cli("tokens", "purge", "--older-than-days", "0").stdout
    assert "purged 0 access tokens, 0 revocation entries" in human


def test_tokens_purge_refuses_a_negative_margin(cli: Cli) -> None:
    cli("init")
    result = cli("tokens", "purge", "--older-than-days", "-1", ok=False)
    assert result.code == 2
    assert "Traceback" not in result.stderr and result.stdout == ""
