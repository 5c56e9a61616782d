"""Fixtures: a fresh SQLite file per test, a fresh PostgreSQL database per test (cloned from a migrated
template made once per run), Redis, and live servers on loopback.

PostgreSQL and Redis are required: when they are unreachable the tests that need them fail loudly
(never skip). Set ``TOKENSMITH_TEST_SKIP_SERVICES=1`` to deselect them explicitly on a laptop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.support import (
    POSTGRES_URL,
    REDIS_URL,
    LiveServer,
    TcpProxy,
    asyncpg_url,
    create_postgres_database,
    drop_postgres_database,
    make_settings,
)

SKIP_SERVICES = os.environ.get("TOKENSMITH_TEST_SKIP_SERVICES") == "1"


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    if not SKIP_SERVICES:
        return
    skip = pytest.mark.skip(reason="TOKENSMITH_TEST_SKIP_SERVICES=1")
    for item in items:
        if "postgres" in item.keywords or "redis" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A database migrated once per run; every test database is a cheap copy of it."""

    async def make() -> str:
        from tokensmith.storage.db import Database
        from tokensmith.storage.migrate import upgrade

        try:
            url = await create_postgres_database(POSTGRES_URL)
        except Exception as exc:
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} is unreachable: {exc!r} "
                        "(start it, or set TOKENSMITH_TEST_SKIP_SERVICES=1 to deselect these tests)")
        db = Database(make_settings(asyncpg_url(url)))
        await upgrade(db)
        await db.dispose()
        return url

    url = asyncio.run(make())
    yield url.rsplit("/", 1)[1]
    asyncio.run(drop_postgres_database(POSTGRES_URL, url))


@pytest.fixture
def postgres_url(postgres_template: str) -> Iterator[str]:
    url = asyncio.run(create_postgres_database(POSTGRES_URL, template=postgres_template))
    yield asyncpg_url(url)
    asyncio.run(drop_postgres_database(POSTGRES_URL, url))


@pytest.fixture
def redis_url() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:
        pytest.fail(f"Redis at {REDIS_URL} is unreachable: {exc!r}")
    return REDIS_URL


@pytest.fixture
def redis_proxy(redis_url: str) -> Iterator[tuple[TcpProxy, str]]:
    """Redis behind a test-owned TCP proxy: (proxy, Redis URL through it). ``proxy.cut()`` is a Redis
    outage, ``proxy.restore()`` its end."""
    host_port, _, db = redis_url.split("//", 1)[1].partition("/")
    host, _, port = host_port.rpartition(":")
    proxy = TcpProxy(host or "127.0.0.1", int(port or 6379))
    try:
        yield proxy, f"redis://127.0.0.1:{proxy.port}/{db or 0}"
    finally:
        proxy.close()


@pytest.fixture
def sqlite_url(tmp_path: Any) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/tokensmith.db"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: Any, tmp_path: Any) -> str:
    """Runs the test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/tokensmith.db"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def server(sqlite_url: str) -> Iterator[LiveServer]:
    """The service on the embedded default (SQLite), on loopback."""
    with LiveServer(make_settings(sqlite_url)) as live:
        yield live


@pytest.fixture
def any_server(database_url: str) -> Iterator[LiveServer]:
    """The service once on SQLite and once on PostgreSQL."""
    with LiveServer(make_settings(database_url)) as live:
        yield live


@pytest.fixture
def pg_proxy(postgres_url: str) -> Iterator[tuple[TcpProxy, str]]:
    """A fresh PostgreSQL database behind a test-owned TCP proxy: (proxy, database URL through it).
    ``proxy.cut()`` is a database outage, ``proxy.restore()`` its end."""
    parts = urlsplit(postgres_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    user = ""
    if parts.username:
        user = parts.username + (f":{parts.password}" if parts.password else "") + "@"
    try:
        yield proxy, parts._replace(netloc=f"{user}127.0.0.1:{proxy.port}").geturl()
    finally:
        proxy.close()
