"""``tokensmith serve`` started while PostgreSQL is down still starts: ``/healthz`` answers, everything else
is 503; when the database is back it finishes its set-up (schema, signing keys) and becomes ready by
itself."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from tests.ops.helpers import ServeProcess
from tests.support import TcpProxy

pytestmark = pytest.mark.postgres


def test_serve_starts_without_the_database_and_becomes_ready(tmp_path: Path, pg_proxy: tuple[TcpProxy, str]) -> None:
    proxy, url = pg_proxy
    proxy.cut()
    server = ServeProcess(tmp_path, env={"TOKENSMITH_DATABASE_URL": url})
    with server.start(until="/healthz"), httpx.Client(base_url=server.url, timeout=10) as http:
        ready = http.get("/readyz")
        assert ready.status_code == 503 and ready.headers["Retry-After"]
        token = http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("a", "b"))
        assert token.status_code == 503, token.text

        proxy.restore()
        deadline = time.monotonic() + 30
        while http.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, server.logs()
            time.sleep(0.2)
        client = json.loads(server.cli("clients", "create", "--name", "late", "--json").stdout)
        resp = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                         auth=(client["client_id"], client["client_secret"]))
        assert resp.status_code == 200, resp.text
        assert server.stop() == 0
    assert "unreachable at start-up" in server.logs()
    assert "Traceback" not in server.logs()
