"""Fixtures of the code-flow tests: a server on SQLite and PostgreSQL with a hand-moved clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import LiveServer, make_settings
from tokensmith.clock import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def clocked(database_url: str, clock: ManualClock) -> Iterator[LiveServer]:
    """Once on SQLite, once on PostgreSQL; time moved by the test."""
    with LiveServer(make_settings(database_url), clock=clock) as live:
        yield live
