"""Security rule: "A database outage gives 503 with Retry-After, and the service recovers by itself."

PostgreSQL is reached through a test-owned TCP proxy; cutting the proxy is the outage.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx
import pytest

from tests.support import LiveServer, TcpProxy, make_settings
from tokensmith.audit.operations import export, verify
from tokensmith.clock import ManualClock
from tokensmith.runtime import Runtime

pytestmark = pytest.mark.postgres


def _assert_unavailable(resp: httpx.Response) -> None:
    assert resp.status_code == 503, resp.text
    assert int(resp.headers["Retry-After"]) > 0
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert isinstance(body, dict)
    assert body.get("error") == "temporarily_unavailable" or body.get("status") == "not_ready", body
    text = resp.text.lower()
    assert "traceback" not in text and "asyncpg" not in text and "sqlalchemy" not in text


def _eventually(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def _token(http: httpx.Client, client_id: str, secret: str | None) -> httpx.Response:
    return http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret or ""))


async def _forget_client(rt: Runtime, client_id: str) -> None:
    rt.clients.invalidate(client_id)


def test_token_readyz_answer_503_while_the_database_is_down_then_recover(
    pg_proxy: tuple[TcpProxy, str],
) -> None:
    proxy, url = pg_proxy
    # a short client cache, so that the JWT client's cached record expires during the outage
    with LiveServer(make_settings(url, client_cache_ttl=2.0)) as server:
        opaque, opaque_secret = server.create_client(scopes=["api.read"], access_token_format="opaque")
        jwt_client, jwt_secret = server.create_client(scopes=["api.read"])
        with server.client() as http:
            opaque_token = _token(http, opaque.client_id, opaque_secret).json()["access_token"]
            assert http.get("/readyz").status_code == 200
            server.call(lambda rt: _forget_client(rt, jwt_client.client_id))
            assert _token(http, jwt_client.client_id, jwt_secret).status_code == 200  # cached from now on

            proxy.cut()
            # a JWT client known to the process still gets tokens (no database work on that path); the
            # audit event waits in memory
            during = _token(http, jwt_client.client_id, jwt_secret)
            assert during.status_code == 200, during.text
            time.sleep(2.2)  # the cache entry expires
            _assert_unavailable(_token(http, opaque.client_id, opaque_secret))  # stores the token
            _assert_unavailable(_token(http, jwt_client.client_id, jwt_secret))  # cache expired
            _assert_unavailable(_token(http, "no-such-client", "whatever"))  # unknown client
            _assert_unavailable(http.post("/oauth/introspect", data={"token": opaque_token},
                                          auth=(opaque.client_id, opaque_secret)))
            _assert_unavailable(http.get("/readyz"))
            assert http.get("/healthz").status_code == 200  # the process itself is alive

            proxy.restore()
            _eventually(lambda: http.get("/readyz").status_code == 200)
            assert _token(http, opaque.client_id, opaque_secret).status_code == 200
            assert _token(http, jwt_client.client_id, jwt_secret).status_code == 200
            unknown = _token(http, "no-such-client", "whatever")
            assert unknown.status_code == 401, unknown.text

            # the event of the token issued during the outage is in the audit log, once
            rid = during.headers["X-Request-ID"]

            def written() -> bool:
                lines = server.call(lambda rt: export(rt, event_type="token.issued"))
                return sum(json.loads(line)["request_id"] == rid for line in lines) == 1

            _eventually(written)
            assert server.call(lambda rt: verify(rt))[1] == []


def test_a_server_started_while_the_database_is_down_becomes_ready_when_it_is_back(
    pg_proxy: tuple[TcpProxy, str],
) -> None:
    proxy, url = pg_proxy
    settings = make_settings(url)
    with LiveServer(settings) as first, first.client() as http:  # schema, signing keys, tenant
        record, secret = first.create_client(scopes=["api.read"])
        revoked = _token(http, record.client_id, secret).json()["access_token"]
        assert http.post("/oauth/revoke", data={"token": revoked}, auth=(record.client_id, secret)).status_code == 200

    proxy.cut()
    # The new process's clock runs a minute ahead: the revocation feed's regular polling (which only
    # looks back a few seconds) cannot stand in for the full load the start-up outage prevented.
    clock = ManualClock(time.time() + 60)
    with LiveServer(settings, clock, init=False) as server, server.client() as http:
        _assert_unavailable(http.get("/readyz"))
        _assert_unavailable(_token(http, record.client_id, secret))

        proxy.restore()
        # no request is needed to trigger recovery: the service loads its keys by itself
        _eventually(lambda: server.runtime.keyring.active is not None)
        resp = _token(http, record.client_id, secret)
        assert resp.status_code == 200, resp.text
        assert http.get("/readyz").status_code == 200
        # revocations made before the outage are known again
        _eventually(lambda: http.post("/oauth/introspect", data={"token": revoked},
                                      auth=(record.client_id, secret)).json() == {"active": False})
