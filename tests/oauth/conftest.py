"""Fixtures of the OAuth protocol tests: a server with a hand-moved clock, and two server instances
sharing one database (SQLite file or PostgreSQL) to check what crosses instances."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import LiveServer, make_settings
from tokensmith.clock import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def clocked_server(database_url: str, clock: ManualClock) -> Iterator[LiveServer]:
    """The service on SQLite and on PostgreSQL, with time moved by the test (no sleeping)."""
    with LiveServer(make_settings(database_url), clock=clock) as live:
        yield live


@pytest.fixture
def server_pair(database_url: str) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two instances of the service on one database, like two replicas behind a load balancer."""
    with LiveServer(make_settings(database_url)) as first, LiveServer(make_settings(database_url)) as second:
        yield first, second
