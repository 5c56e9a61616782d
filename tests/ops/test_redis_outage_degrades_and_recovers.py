"""Redis (shared rate limits, revocation fan-out, caches) going away: ``/readyz`` says so (503), the token
endpoint keeps issuing and throttling (per process), and everything recovers by itself."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.people.helpers import login, make_user
from tests.support import LiveServer, TcpProxy, make_settings

pytestmark = pytest.mark.redis
FORM = {"grant_type": "client_credentials"}


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

        rt = server.runtime
        assert rt.revocations.subscription is not None and rt.limiter.announcements is not None
        subscriptions = (rt.revocations.subscription, rt.limiter.announcements)
        _wait(lambda: all(s.subscribed for s in subscriptions))
        proxy.cut()
        _wait(lambda: not any(s.subscribed for s in subscriptions))
        assert not rt.limiter.knows_recent_failures  # every throttle check asks the counter meanwhile
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
        # both followers of Redis channels subscribed again by themselves
        _wait(lambda: all(s.subscribed for s in subscriptions) and rt.limiter.knows_recent_failures)
        assert all(s.subscriptions >= 2 for s in subscriptions)


def _wait(condition: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_sign_in_keeps_working_and_throttling_without_redis(
        tmp_path: Path, redis_proxy: tuple[TcpProxy, str]) -> None:
    """The sign-in's per-IP budget and unknown-address lockout are the shared counters too: while Redis is
    away they are counted per process (sign-in is not refused for it), and shared again once it is back."""
    proxy, url = redis_proxy
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/t.db", redis_url=url, login_ip_failures_per_minute=2)
    with LiveServer(settings) as server, server.client() as http:
        make_user(server, "someone@example.com")
        proxy.cut()
        assert login(http, "someone@example.com").status_code == 200
        failures = [login(http, f"ghost{i}@example.com", "wrong password!").status_code for i in range(3)]
        assert failures == [401, 401, 429]
        proxy.restore()
        _wait(lambda: http.get("/readyz").status_code == 200)
        assert login(http, "someone@example.com").status_code == 200  # Redis's own count was never spent
