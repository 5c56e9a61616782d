"""A U+0000 in the user of a session exchange (JSON or RFC 8693) is refused at the edge, so it never reaches
the background writers: the events and users that come after it are written (on PostgreSQL a NUL that got
into a batch used to fail every later batch of the audit log and of the exchange users)."""

from __future__ import annotations

from typing import Any

from tests.apikeys.helpers import USER, admin_headers, api_key, audit_events, create_key, exchange
from tests.support import LiveServer
from tokensmith.audit.operations import verify

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
USER_ID_TYPE = "urn:tokensmith:params:oauth:token-type:user-id"


def _flush_users(server: LiveServer) -> None:
    async def run(rt: Any) -> None:
        await rt.exchange_users.flush()

    server.call(run)


def test_later_events_and_users_are_written_after_a_nul_attempt(any_server: LiveServer) -> None:
    with any_server.client() as http:
        headers = admin_headers(any_server, http)
        key = api_key(create_key(http, headers))
        for field in ("user_id", "first_name", "organisation"):
            assert exchange(http, key, {**USER, field: "x\x00y"}).status_code == 400
        resp = http.post("/oauth/token", headers={"X-API-Key": key}, data={
            "grant_type": TOKEN_EXCHANGE, "subject_token": "evil\x00user", "subject_token_type": USER_ID_TYPE,
            "first_name": "a", "last_name": "b", "organisation": "c"})
        assert resp.status_code == 400 and resp.json()["error"] == "invalid_request"
        _flush_users(any_server)

        assert exchange(http, key, {**USER, "user_id": "after-1"}).status_code == 200
        resp = http.post("/oauth/token", headers={"X-API-Key": key}, data={
            "grant_type": TOKEN_EXCHANGE, "subject_token": "after-2", "subject_token_type": USER_ID_TYPE,
            "first_name": "a", "last_name": "b", "organisation": "c"})
        assert resp.status_code == 200, resp.text
        _flush_users(any_server)

        issued = [e["subject"] for e in audit_events(any_server, "exchange.issued")]
        assert issued == ["after-1", "after-2"]
        refused = audit_events(any_server, "exchange.refused")
        assert refused and all("\x00" not in str(e) for e in refused)  # (refusals are audited once per 10 s)
        rows = http.get("/exchange-users", headers=headers)
        assert rows.status_code == 200
        assert {r["userId"] for r in rows.json()} == {"after-1", "after-2"}
        # the bad actor's neighbours can still be managed, and the chain is whole
        assert http.patch("/exchange-users/after-1", json={"blocked": True}, headers=headers).status_code == 200
        checked, problems = any_server.call(verify)
        assert problems == [] and checked >= 6
