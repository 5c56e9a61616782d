"""``tokensmith db upgrade`` brings a new or current database to the head revision."""

from __future__ import annotations

from tests.cli.helpers import Cli
from tokensmith.storage.migrate import head_revision


def test_db_upgrade_creates_the_schema_and_is_repeatable(cli: Cli) -> None:
    assert not cli.db_path.exists()
    first = cli("db", "upgrade", "--json").json()
    assert first == {"revision": head_revision()}
    assert cli.db_path.exists()
    assert cli("db", "upgrade", "--json").json() == first
    assert f"database at revision {head_revision()}" in cli("db", "upgrade").stdout
