"""``is_outage`` tells "the database cannot serve right now" (→ 503, retried) from "this statement is wrong"
(→ 500, a bug): with real PostgreSQL errors, and with the errors of the network and the pool."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from tests.support import make_settings
from tokensmith.storage.db import Database, is_outage


async def _error_of(db: Database, *statements: str) -> BaseException:
    try:
        async with db.session() as session:
            for statement in statements:
                await session.execute(text(statement))
    except Exception as exc:
        return exc
    raise AssertionError("no error")


@pytest.mark.postgres
async def test_postgresql_errors(postgres_url: str) -> None:
    db = Database(make_settings(postgres_url))
    try:
        # the server ends the connection (as on a restart or failover)
        assert is_outage(await _error_of(db, "SELECT pg_terminate_backend(pg_backend_pid())"))
        # a statement timeout: the database is overloaded
        assert is_outage(await _error_of(db, "SET LOCAL statement_timeout = 10", "SELECT pg_sleep(1)"))
        # bugs and bad data are not outages
        assert not is_outage(await _error_of(db, "SELECT 1/0"))
        assert not is_outage(await _error_of(db, "SELECT * FROM no_such_table"))
        assert not is_outage(await _error_of(db, "SELEC 1"))
        # and the pool recovers by itself afterwards
        assert await db.ping()
    finally:
        await db.dispose()


class _DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


@pytest.mark.parametrize("sqlstate, outage", [
    ("08006", True),  # connection failure
    ("53300", True),  # too many connections
    ("57P01", True),  # admin shutdown
    ("57P03", True),  # cannot connect now (starting up)
    ("23505", False),  # unique violation
    ("42P01", False),  # undefined table
])
def test_sqlstates(sqlstate: str, outage: bool) -> None:
    wrapped = RuntimeError("wrapped")
    wrapped.__cause__ = _DriverError(sqlstate)
    assert is_outage(_DriverError(sqlstate)) is outage
    assert is_outage(wrapped) is outage


@pytest.mark.parametrize("exc, outage", [
    (ConnectionRefusedError(111, "refused"), True),
    (TimeoutError(), True),
    (PoolTimeoutError("pool exhausted"), True),
    (ValueError("bug"), False),
    (KeyError("bug"), False),
])
def test_network_and_pool_errors(exc: BaseException, outage: bool) -> None:
    assert is_outage(exc) is outage
