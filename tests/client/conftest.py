"""Fixtures of the SDK tests: the real service on loopback with its issuer at its own URL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.client.helpers import live_server
from tests.support import LiveServer


@pytest.fixture
def server(sqlite_url: str) -> Iterator[LiveServer]:
    """SQLite, issuer = the server's own URL."""
    with live_server(sqlite_url) as live:
        yield live


@pytest.fixture
def any_server(database_url: str) -> Iterator[LiveServer]:
    """Once on SQLite and once on PostgreSQL."""
    with live_server(database_url) as live:
        yield live
