"""Operator errors end a command with a one-line message on stderr and a meaningful exit status, never a
traceback: configuration (2), a refused operation (1), an unreachable database (3). Run through the
installed entry point in a process of its own: a traceback is what the real command would print."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import Cli, assert_clean_failure


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path, subprocess=True)


def test_unreachable_database(cli: Cli) -> None:
    result = cli("clients", "list", ok=False,
                 env={"TOKENSMITH_DATABASE_URL": "postgresql+asyncpg://ops:s3cret-pw@127.0.0.1:1/tokensmith"})
    assert_clean_failure(result, "cannot reach", "127.0.0.1:1")
    assert result.code == 3
    assert "s3cret-pw" not in result.stderr


def test_invalid_setting(cli: Cli) -> None:
    result = cli("clients", "list", ok=False, env={"TOKENSMITH_PORT": "eighty"})
    assert_clean_failure(result, "TOKENSMITH_PORT")
    assert result.code == 2


def test_unknown_command_is_a_usage_error(cli: Cli) -> None:
    result = cli("clients", "frobnicate", ok=False)
    assert result.code == 2
    assert "Traceback" not in result.stderr
