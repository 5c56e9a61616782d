"""Redis (shared rate limits, revocation fan-out, caches) going away: ``/readyz`` says so (503), the token
endpoint keeps issuing and throttling (per process), and everything recovers by itself."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import LiveServer, TcpProxy, make_settings

pytestmark = pytest.mark.redis
FORM = {"grant_type": "client_credentials"}


@pytest.fixture
def redis_proxy(redis_url: str) -> Iterator[tuple[TcpProxy, str]]:
    host_port, _, db = redis_url.split("//", 1)[1].partition("/")
    host, _, port = host_port.rpartition(":")
    proxy = TcpProxy(host or "127.0.0.1", int(port or 6379))
    try:
        yield proxy, f"redis://127.0.0.1:{proxy.port}/{db or 0}"
    finally:
        proxy.close()


def test_token_endpoint_keeps_working_without_redis_and_throttles_per_process(
        tmp_path: Path, redis_proxy: tuple[TcpProxy, str]) -> None:
    """Redis holds shared rate limits and fan-out, not credentials: while it is away tokens are still
    issued, wrong secrets are still refused and throttled (counted per process), ``/readyz`` says Redis is
    unreachable, and everything is shared again once it is back."""
    proxy, url = redis_proxy
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/t.db", redis_url=url, client_auth_failures_per_minute=2)
    with LiveServer(settings) as server, server.client() as http:
        record, secret = server.create_client(scopes=["api.read"])
        other, other_secret = server.create_client(scopes=["api.read"])
        assert http.post("/oauth/token", data=FORM, auth=(record.client_id, secret)).status_code == 200

        proxy.cut()
        ready = http.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["redis"] == "unreachable"
        assert ready.headers["Retry-After"]
        assert http.post("/oauth/token", data=FORM, auth=(record.client_id, secret)).status_code == 200
        wrong = [http.post("/oauth/token", data=FORM, auth=(record.client_id, "wrong")) for _ in range(3)]
        assert [r.status_code for r in wrong] == [401, 401, 429], [r.text for r in wrong]
        assert wrong[2].headers["Retry-After"]
        # the throttle holds for the right secret too; other clients are not affected
        assert http.post("/oauth/token", data=FORM, auth=(record.client_id, secret)).status_code == 429
        assert http.post("/oauth/token", data=FORM, auth=(other.client_id, other_secret)).status_code == 200

        proxy.restore()
        deadline = time.monotonic() + 15
        while http.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        resp = http.post("/oauth/token", data=FORM, auth=(other.client_id, other_secret))
        assert resp.status_code == 200, resp.text
