"""Fixtures of the guard tests: the service on loopback and the example API guarded against it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.guard.helpers import ExampleApi, guard_settings, resource_server_client
from tests.support import LiveServer, make_settings


@pytest.fixture
def service(sqlite_url: str) -> Iterator[LiveServer]:
    with LiveServer(make_settings(sqlite_url)) as live:
        yield live


@pytest.fixture
def api(service: LiveServer, tmp_path: Path) -> Iterator[ExampleApi]:
    with ExampleApi(guard_settings(service, resource_server_client(service)), tmp_path / "fhir.db") as example:
        yield example
