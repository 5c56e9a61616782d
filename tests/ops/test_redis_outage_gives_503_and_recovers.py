"""Redis (shared rate limits, revocation fan-out, caches) going away is an outage like the database's:
503 with ``Retry-After`` and a JSON body, ``/readyz`` says so, and everything recovers by itself."""

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


def test_token_endpoint_answers_503_without_redis_then_recovers(tmp_path: Path,
                                                                redis_proxy: tuple[TcpProxy, str]) -> None:
    proxy, url = redis_proxy
    with LiveServer(make_settings(f"sqlite+aiosqlite:///{tmp_path}/t.db", redis_url=url)) as server, \
            server.client() as http:
        record, secret = server.create_client(scopes=["api.read"])
        assert http.post("/oauth/token", data=FORM, auth=(record.client_id, secret)).status_code == 200

        proxy.cut()
        for auth in ((record.client_id, secret), (record.client_id, "wrong")):
            resp = http.post("/oauth/token", data=FORM, auth=auth)
            assert resp.status_code == 503, resp.text
            assert resp.headers["Retry-After"]
            assert resp.json()["error"] == "temporarily_unavailable"
        ready = http.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["redis"] == "unreachable"

        proxy.restore()
        deadline = time.monotonic() + 15
        while http.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        resp = http.post("/oauth/token", data=FORM, auth=(record.client_id, secret))
        assert resp.status_code == 200, resp.text
