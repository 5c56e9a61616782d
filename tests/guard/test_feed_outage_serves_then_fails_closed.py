"""When the revocation feed cannot be reached the guard keeps serving with what it knows; once the feed has
been silent for longer than ``staleness`` it refuses every request (503, ``Retry-After``) and says so in its
health and metrics, until the feed answers again. A guard that has never reached the feed refuses from the
start. (The service is reached through a test-owned TCP proxy; time is the guard's injected clock.)"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.guard.helpers import cc_token, eventually, guard_settings, resource_server_client
from tests.support import LiveServer, TcpProxy
from tokensmith.clock import ManualClock
from tokensmith.errors import ServiceUnavailable
from tokensmith.guard import Guard


@pytest.fixture
def proxy(service: LiveServer) -> Iterator[TcpProxy]:
    parts = urlsplit(service.url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 80)
    try:
        yield proxy
    finally:
        proxy.close()


async def test_serves_through_an_outage_then_fails_closed_after_the_staleness(service: LiveServer,
                                                                              proxy: TcpProxy) -> None:
    clock = ManualClock()
    token = cc_token(service, ["Patient.read"])
    settings = guard_settings(service, resource_server_client(service), service_url=f"http://127.0.0.1:{proxy.port}",
                              feed_wait=1, staleness=30)
    async with Guard(settings, clock=clock) as guard:
        principal = await guard.authenticate(f"Bearer {token}", None)
        assert guard.health()["status"] == "ok"
        proxy.cut()
        assert guard.feed is not None
        await eventually(lambda: guard.feed is not None and guard.feed.failures >= 2, 5)
        clock.advance(29)  # silent for less than the staleness: still serving from what it knows
        assert await guard.authenticate(f"Bearer {token}", None) is principal
        assert guard.health()["status"] == "ok"
        clock.advance(2)
        with pytest.raises(ServiceUnavailable) as refused:
            await guard.authenticate(f"Bearer {token}", None)
        assert refused.value.status == 503 and refused.value.headers["Retry-After"] == "5"
        health = guard.health()
        assert health["status"] == "failing_closed"
        assert health["revocation_feed"]["age_seconds"] >= 31 and health["revocation_feed"]["consecutive_failures"] >= 2
        metrics = guard.metrics.exposition().decode()
        assert "tokensmith_guard_failing_closed 1.0" in metrics
        assert 'tokensmith_guard_requests_total{credential="any",outcome="failing_closed"} 1.0' in metrics
        proxy.restore()
        await eventually(lambda: not guard.failing_closed, 5)
        assert await guard.authenticate(f"Bearer {token}", None) is principal
        assert guard.health()["status"] == "ok"


async def test_a_guard_that_never_reached_the_feed_refuses_until_it_does(service: LiveServer,
                                                                         proxy: TcpProxy) -> None:
    token = cc_token(service, ["Patient.read"])
    proxy.cut()
    settings = guard_settings(service, resource_server_client(service), service_url=f"http://127.0.0.1:{proxy.port}",
                              feed_wait=1)
    async with Guard(settings) as guard:
        assert guard.health()["status"] == "failing_closed"
        assert guard.health()["revocation_feed"]["loaded"] is False
        with pytest.raises(ServiceUnavailable):
            await guard.authenticate(f"Bearer {token}", None)
        proxy.restore()
        await eventually(lambda: guard.health()["status"] == "ok", 8)
        assert (await guard.authenticate(f"Bearer {token}", None)).scopes == ("Patient.read",)
