"""A code presented several times at once (RFC 6749 §4.1.2, OAuth 2.0 Security BCP §4.5): the copies race
the first exchange over real HTTP. Exactly one exchange may succeed, and since the others are replays,
whatever it issued must be revoked as well — including when a replay is seen while the first exchange is
still writing its grant. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.codeflow.helpers import Flow, code_client
from tests.people.helpers import introspect, make_user
from tests.support import LiveServer

COPIES = 6
ROUNDS = 4


@pytest.fixture
def doc(clocked: LiveServer) -> LiveServer:
    make_user(clocked, "doc@example.com", role="developer")
    return clocked


def _race(server: LiveServer, flow: Flow, code: str) -> list[httpx.Response]:
    """``COPIES`` exchanges of ``code`` released together, each on its own connection."""
    gate = threading.Barrier(COPIES)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": flow.redirect_uri,
            "code_verifier": flow.verifier, "client_id": flow.client_id}

    def one(_: int) -> httpx.Response:
        with server.client() as http:
            gate.wait(timeout=10)
            return http.post("/oauth/token", data=form)

    with ThreadPoolExecutor(COPIES) as pool:
        return list(pool.map(one, range(COPIES)))


def test_concurrent_copies_of_a_code_leave_no_token_alive(doc: LiveServer) -> None:
    record, _ = code_client(doc)
    with doc.client() as http:
        for _ in range(ROUNDS):
            flow = Flow(doc, http, record.client_id)
            answers = _race(doc, flow, flow.code("doc@example.com"))
            ok = [a for a in answers if a.status_code == 200]
            refused = [a for a in answers if a.status_code != 200]
            assert len(ok) <= 1, [a.text for a in ok]
            assert len(refused) >= COPIES - 1
            assert all(a.status_code == 400 and a.json()["error"] == "invalid_grant" for a in refused)
            doc.call(lambda rt: rt.revocations.poll())
            for won in ok:
                tokens = won.json()
                assert introspect(doc, http, tokens["access_token"])["active"] is False
                again = flow.refresh(tokens["refresh_token"])
                assert again.status_code == 400 and again.json()["error"] == "invalid_grant", again.text
