"""Numbers are range-checked where they enter: one beyond its documented bounds is a 400 list naming the
field, never a 500 (SQLite's driver raises ``OverflowError`` for an integer beyond 64 bits; a date beyond
year 9999 overflows Python's datetime)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.apikeys.helpers import admin_headers, create_key
from tests.support import LiveServer

HUGE = 10**30

Send = Callable[[httpx.Client, dict[str, str], str], httpx.Response]

# (id, request (http, admin headers, an API key's id), the loc of the 400)
CASES: list[tuple[str, Send, list[Any]]] = [
    ("exchange-users offset", lambda h, a, k: h.get(f"/exchange-users?offset={HUGE}", headers=a), ["query", "offset"]),
    ("exchange-users offset 2**63", lambda h, a, k: h.get(f"/exchange-users?offset={2**63}", headers=a),
     ["query", "offset"]),
    ("exchange-users limit", lambda h, a, k: h.get(f"/exchange-users?limit={HUGE}", headers=a), ["query", "limit"]),
    ("exchange-users negative offset", lambda h, a, k: h.get("/exchange-users?offset=-1", headers=a),
     ["query", "offset"]),
    ("api key tokenTtl", lambda h, a, k: h.post("/api-keys", json={"name": "n", "scopes": [], "tokenTtl": HUGE},
                                                headers=a), ["tokenTtl"]),
    ("api key rateLimit", lambda h, a, k: h.post("/api-keys", json={"name": "n", "scopes": [], "rateLimit": HUGE},
                                                 headers=a), ["rateLimit"]),
    ("api key expiresAt as a huge number", lambda h, a, k: h.post("/api-keys", json={
        "name": "n", "scopes": [], "expiresAt": HUGE}, headers=a), ["expiresAt"]),
    ("api key expiresAt past year 9999", lambda h, a, k: h.post("/api-keys", json={
        "name": "n", "scopes": [], "expiresAt": "9999-12-31T23:59:59-23:59"}, headers=a), ["expiresAt"]),
    ("PATCH api key tokenTtl", lambda h, a, k: h.patch(f"/api-keys/{k}", json={"tokenTtl": HUGE}, headers=a),
     ["tokenTtl"]),
    ("PATCH api key expiresAt", lambda h, a, k: h.patch(f"/api-keys/{k}", json={"expiresAt": -HUGE}, headers=a),
     ["expiresAt"]),
    ("rotate gracePeriodSeconds", lambda h, a, k: h.post(f"/api-keys/{k}/rotate", json={
        "gracePeriodSeconds": HUGE}, headers=a), ["gracePeriodSeconds"]),
]


@pytest.mark.parametrize("name, send, loc", CASES, ids=[c[0] for c in CASES])
def test_a_number_out_of_range_is_a_400_naming_the_field(any_server: LiveServer, name: str, send: Send,
                                                         loc: list[Any]) -> None:
    with any_server.client() as http:
        headers = admin_headers(any_server, http)
        key_id = create_key(http, headers)["id"]
        resp = send(http, headers, key_id)
        assert resp.status_code == 400, resp.text
        body = resp.json()
        assert isinstance(body, list) and any(err["loc"] == loc for err in body), body
        # and the service goes on answering
        assert http.get("/exchange-users?offset=0&limit=1", headers=headers).status_code == 200
