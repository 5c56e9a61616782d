"""Fixtures of the operations tests: PostgreSQL behind a test-owned TCP proxy (to cut the database)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.support import TcpProxy


@pytest.fixture
def pg_proxy(postgres_url: str) -> Iterator[tuple[TcpProxy, str]]:
    """(proxy, database URL through the proxy) for a fresh PostgreSQL database."""
    parts = urlsplit(postgres_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    user = ""
    if parts.username:
        user = parts.username + (f":{parts.password}" if parts.password else "") + "@"
    url = parts._replace(netloc=f"{user}127.0.0.1:{proxy.port}").geturl()
    try:
        yield proxy, url
    finally:
        proxy.close()
