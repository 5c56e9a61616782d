"""Fixtures of the people tests: servers with a hand-moved clock, or with settings of the test's own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from tests.support import LiveServer, make_settings
from tokensmith.clock import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def clocked_server(sqlite_url: str, clock: ManualClock) -> Iterator[LiveServer]:
    """SQLite, time moved by the test (no sleeping)."""
    with LiveServer(make_settings(sqlite_url), clock=clock) as live:
        yield live


@pytest.fixture
def server_with(sqlite_url: str) -> Iterator[Callable[..., LiveServer]]:
    """``server_with(**settings)``: a SQLite server with some settings changed (``clock=`` for time)."""
    with ExitStack() as stack:

        def make(clock: Any = None, **overrides: Any) -> LiveServer:
            return stack.enter_context(LiveServer(make_settings(sqlite_url, **overrides), clock=clock))

        yield make


@pytest.fixture
def any_server_with(database_url: str) -> Iterator[Callable[..., LiveServer]]:
    """Like ``server_with``, once on SQLite and once on PostgreSQL."""
    with ExitStack() as stack:

        def make(clock: Any = None, **overrides: Any) -> LiveServer:
            return stack.enter_context(LiveServer(make_settings(database_url, **overrides), clock=clock))

        yield make
