"""Fixtures of the OAuth protocol tests: a server with a hand-moved clock, and two server instances
sharing one database (SQLite file or PostgreSQL) to check what crosses instances."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support import LiveServer, make_settings
from tokensmith.bootstrap import initialise
from tokensmith.clients import ClientRecord, create_client
from tokensmith.clock import ManualClock
from tokensmith.http.app import create_app
from tokensmith.oauth.server import AuthorizationServer
from tokensmith.runtime import Runtime


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


@dataclass
class InProcess:
    """The real app and runtime driven in-process through an ASGI transport (no socket): for protocol
    behaviour where the socket does not matter."""

    rt: Runtime
    app: Any
    http: httpx.AsyncClient
    tenant_id: str

    @property
    def server(self) -> AuthorizationServer:
        server: AuthorizationServer = self.app.state.authorization
        return server

    async def create_client(self, **kw: Any) -> tuple[ClientRecord, str]:
        kw.setdefault("tenant_id", self.tenant_id)
        kw.setdefault("name", "test-client")
        record, secret = await create_client(self.rt, **kw)
        return record, secret or ""


@pytest.fixture
async def inproc(sqlite_url: str) -> AsyncIterator[InProcess]:
    rt = Runtime(make_settings(sqlite_url))
    app = create_app(runtime=rt)
    tenant_id = (await initialise(rt))["tenant_id"]
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://tokensmith.test") as http:
            yield InProcess(rt, app, http, tenant_id)
    await rt.stop()
