"""``GET /audit-events``: keyset pages (newest first) with type/actor/subject/time filters, only the caller's
tenant, only with ``Audit.read``; bad parameters are 400s, never 500s."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.apikeys.helpers import bearer
from tests.support import LiveServer, make_settings
from tokensmith.clock import ManualClock

OTHER_TENANT = "99999999-0000-4000-8000-000000000000"
START = 1_800_000_000.0


@pytest.fixture
def server(database_url: str) -> Iterator[LiveServer]:
    clock = ManualClock(START)
    with LiveServer(make_settings(database_url), clock=clock) as live:
        rt = live.runtime

        async def seed(_rt: Any) -> None:
            for i in range(25):
                rt.audit.record("exchange.issued", tenant_id=live.tenant_id, actor=f"apikey:k{i % 2}",
                                subject=f"user{i}", ip="10.0.0.1", request_id="ab" * 16, jti=f"j{i}")
                clock.advance(60)
            for _ in range(3):
                rt.audit.record("login.failed", tenant_id=live.tenant_id, subject="bob", ip="10.9.9.9")
                rt.audit.record("exchange.issued", tenant_id=OTHER_TENANT, actor="apikey:k0", subject="user1")
            await rt.audit.flush()

        live.call(seed)
        yield live


def _token(server: LiveServer, http: httpx.Client, scopes: list[str]) -> dict[str, str]:
    record, secret = server.create_client(scopes=scopes, name="auditor")
    resp = http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(record.client_id, secret))
    assert resp.status_code == 200, resp.text
    server.call(lambda rt: rt.audit.flush())  # the token's own events are in before the test looks
    return bearer(resp.json()["access_token"])


def _all(http: httpx.Client, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        resp = http.get("/audit-events", params={**params, **({"cursor": cursor} if cursor else {})},
                        headers=headers)
        assert resp.status_code == 200, resp.text
        page = resp.json()
        events += page["events"]
        cursor = page["next"]
        if cursor is None:
            return events
    raise AssertionError("the pages never end")


def test_pages_are_newest_first_without_gaps_or_repeats(server: LiveServer) -> None:
    with server.client() as http:
        headers = _token(server, http, ["Audit.read"])
        first = http.get("/audit-events", params={"limit": 10}, headers=headers).json()
        assert len(first["events"]) == 10 and first["next"]
        events = _all(http, headers, limit=10)
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == len(seqs)
    assert first["events"] == events[:10]
    mine = [e for e in events if e["type"] in ("exchange.issued", "login.failed")]
    assert len(mine) == 28  # never the other tenant's three events
    issued = next(e for e in events if e["type"] == "exchange.issued")
    assert issued["actor"].startswith("apikey:") and issued["ip"] == "10.0.0.1"
    assert issued["requestId"] == "ab" * 16 and issued["data"]["jti"].startswith("j")


def test_filters_by_type_actor_subject_and_time(server: LiveServer) -> None:
    with server.client() as http:
        headers = _token(server, http, ["Audit.read"])
        assert {e["type"] for e in _all(http, headers, type="login.failed", limit=2)} == {"login.failed"}
        assert len(_all(http, headers, type="login.failed", limit=2)) == 3
        by_actor = _all(http, headers, actor="apikey:k1", limit=4)
        assert len(by_actor) == 12 and {e["actor"] for e in by_actor} == {"apikey:k1"}
        assert [e["subject"] for e in _all(http, headers, subject="user1")] == ["user1"]
        # events 5..9 were recorded from START + 300 s on, one a minute
        timed = _all(http, headers, type="exchange.issued", since="2027-01-15T08:05:00Z",
                     until="2027-01-15T08:10:00Z", limit=2)
        assert [e["subject"] for e in timed] == [f"user{i}" for i in (9, 8, 7, 6, 5)]


def test_the_listing_needs_audit_read(server: LiveServer) -> None:
    with server.client() as http:
        headers = _token(server, http, ["Client.read"])
        resp = http.get("/audit-events", headers=headers)
        assert resp.status_code == 403
        assert http.get("/audit-events").status_code == 401


@pytest.mark.parametrize("params", [{"cursor": "abc"}, {"limit": "0"}, {"limit": "501"},
                                    {"since": "yesterday"}, {"since": "2027-01-02", "until": "2027-01-01"},
                                    {"since": "2027-01-01", "cursor": "12"}])
def test_bad_parameters_are_400(server: LiveServer, params: dict[str, str]) -> None:
    with server.client() as http:
        headers = _token(server, http, ["Audit.read"])
        resp = http.get("/audit-events", params=params, headers=headers)
        assert resp.status_code == 400, resp.text
