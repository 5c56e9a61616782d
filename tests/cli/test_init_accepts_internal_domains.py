"""``tokensmith init --admin-email`` takes addresses on internal domains (hospitals run ``.local``)."""

from __future__ import annotations

import pytest

from tests.cli.helpers import Cli, assert_clean_failure


@pytest.mark.parametrize("address", ["admin@hospital.local", "admin@example.test"])
def test_init_creates_an_admin_on_an_internal_domain(cli: Cli, address: str) -> None:
    result = cli("init", "--admin-email", address, "--admin-password", "a long passphrase", "--json").json()
    assert result["admin_created"] is True and result["admin_email"] == address
    listed = cli("users", "list", "--json").json()
    assert [u["email"] for u in listed] == [address]


def test_init_refuses_what_is_not_an_address(cli: Cli) -> None:
    result = cli("init", "--admin-email", "admin@@hospital.local", "--admin-password", "a long passphrase", ok=False)
    assert_clean_failure(result, "the admin e-mail is not valid")
