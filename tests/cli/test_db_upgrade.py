"""``tokensmith db upgrade`` brings a new or current database to the head revision."""

from __future__ import annotations

import asyncio

import pytest

from tests.cli.helpers import Cli
from tests.support import POSTGRES_URL, asyncpg_url, create_postgres_database, drop_postgres_database
from tokensmith.storage.migrate import head_revision


def test_db_upgrade_creates_the_schema_and_is_repeatable(cli: Cli) -> None:
    assert not cli.db_path.exists()
    first = cli("db", "upgrade", "--json").json()
    assert first == {"revision": head_revision()}
    assert cli.db_path.exists()
    assert cli("db", "upgrade", "--json").json() == first
    assert f"database at revision {head_revision()}" in cli("db", "upgrade").stdout


@pytest.mark.postgres
def test_db_upgrade_on_an_empty_postgresql_database(cli: Cli) -> None:
    url = asyncio.run(create_postgres_database(POSTGRES_URL))  # no template: no tables at all
    try:
        env = {"TOKENSMITH_DATABASE_URL": asyncpg_url(url)}
        assert cli("db", "upgrade", "--json", env=env).json() == {"revision": head_revision()}
        assert cli("init", "--json", env=env).json()["signing_key_created"] is True
    finally:
        asyncio.run(drop_postgres_database(POSTGRES_URL, url))
