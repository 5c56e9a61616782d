"""Rotation with and without a grace period, and expiry, on a server whose clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tests.apikeys.helpers import admin_headers, api_key, audit_events, create_key, exchange
from tests.support import LiveServer, make_settings
from tokensmith.clock import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def clocked(database_url: str, clock: ManualClock) -> Iterator[LiveServer]:
    with LiveServer(make_settings(database_url), clock=clock) as live:
        yield live


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_rotation_without_grace_kills_the_old_secret_at_once(clocked: LiveServer) -> None:
    with clocked.client() as http:
        headers = admin_headers(clocked, http)
        key = create_key(http, headers)
        old = api_key(key)
        old_token = exchange(http, old).json()["token"]
        resp = http.post(f"/api-keys/{key['id']}/rotate", headers=headers)
        assert resp.status_code == 200, resp.text
        assert resp.headers["cache-control"] == "no-store"
        rotated = resp.json()
        assert rotated["id"] == key["id"] and rotated["clientId"] == key["clientId"]
        assert rotated["secret"] != key["secret"] and len(rotated["secret"]) == 48
        assert rotated["previousSecretExpiresAt"] is None
        assert exchange(http, old).status_code == 401
        assert exchange(http, api_key(rotated)).status_code == 200
        # Tokens obtained with the old secret are cut off as well (the key may have leaked).
        record, secret = clocked.create_client(scopes=["api.read"], name="rs")
        assert http.post("/oauth/introspect", data={"token": old_token},
                         auth=(record.client_id, secret)).json() == {"active": False}
    events = audit_events(clocked, "apikey.rotated")
    assert len(events) == 1 and events[0]["data"]["grace_seconds"] == 0
    assert key["secret"] not in str(events) and rotated["secret"] not in str(events)


def test_rotation_with_grace_keeps_the_old_secret_for_exactly_that_long(clocked: LiveServer,
                                                                       clock: ManualClock) -> None:
    with clocked.client() as http:
        headers = admin_headers(clocked, http)
        key = create_key(http, headers)
        old = api_key(key)
        old_token = exchange(http, old).json()["token"]
        rotated = http.post(f"/api-keys/{key['id']}/rotate", json={"gracePeriodSeconds": 300},
                            headers=headers).json()
        assert rotated["previousSecretExpiresAt"] == _iso(clock.now() + 300)
        new = api_key(rotated)
        assert exchange(http, old).status_code == 200 and exchange(http, new).status_code == 200
        clock.advance(299)
        assert exchange(http, old).status_code == 200
        clock.advance(2)
        assert exchange(http, old).status_code == 401
        assert exchange(http, new).status_code == 200
        # With grace, tokens from before stay valid until their own expiry.
        record, secret = clocked.create_client(scopes=["api.read"], name="rs")
        assert http.post("/oauth/introspect", data={"token": old_token},
                         auth=(record.client_id, secret)).json()["active"] is True
        # Rotating again keeps only one previous secret: the one just replaced.
        again = http.post(f"/api-keys/{key['id']}/rotate", json={"gracePeriodSeconds": 60}, headers=headers).json()
        assert exchange(http, new).status_code == 200 and exchange(http, api_key(again)).status_code == 200
        assert exchange(http, old).status_code == 401
        for grace in (-1, 10**9, "soon"):
            resp = http.post(f"/api-keys/{key['id']}/rotate", json={"gracePeriodSeconds": grace}, headers=headers)
            assert resp.status_code == 400 and resp.json()[0]["loc"] == ["gracePeriodSeconds"], grace


def test_expired_key_fails_and_tokens_never_outlive_the_key(clocked: LiveServer, clock: ManualClock) -> None:
    with clocked.client() as http:
        headers = admin_headers(clocked, http)
        key = create_key(http, headers, expiresAt=_iso(clock.now() + 1800))
        body = exchange(http, api_key(key)).json()
        # The key expires in 30 minutes: its session token is capped there instead of the usual hour.
        assert body["expires_at"] <= _iso(clock.now() + 1801)
        clock.advance(1799)
        assert exchange(http, api_key(key)).status_code == 200
        clock.advance(2)
        resp = exchange(http, api_key(key))
        assert resp.status_code == 401 and resp.json() == {"error": "Invalid API key provided"}
        # Extending the expiry brings it back; a past expiry is refused.
        assert http.patch(f"/api-keys/{key['id']}", json={"expiresAt": _iso(clock.now() + 3600)},
                          headers=headers).status_code == 200
        assert exchange(http, api_key(key)).status_code == 200
        resp = http.patch(f"/api-keys/{key['id']}", json={"expiresAt": _iso(clock.now() - 1)}, headers=headers)
        assert resp.status_code == 400 and resp.json()[0]["loc"] == ["expiresAt"]
    reasons = [e["data"]["reason"] for e in audit_events(clocked, "apikey.auth_failed")]
    assert "expired" in reasons
