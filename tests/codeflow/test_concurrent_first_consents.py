"""Two browsers of the same user answer the first consent of the same app at the same moment (two tabs, a
double submit): both flows go on to their code, and the user ends with one consent row holding the scopes
of both answers — no IntegrityError, no 500. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.codeflow.helpers import Flow, code_client, query_of
from tests.people.helpers import make_user
from tests.support import LiveServer
from tokensmith.codeflow.consents import list_consents
from tokensmith.runtime import Runtime

BROWSERS = 4
ROUNDS = 3


@pytest.fixture
def doc(any_server: LiveServer) -> tuple[LiveServer, str]:
    user = make_user(any_server, "doc@example.com", role="developer")
    return any_server, user.id


def _consent_pages(server: LiveServer, client_id: str, jars: list[httpx.Client]) -> list[tuple[Flow, httpx.Response]]:
    """Each browser signed in and looking at the consent page of ``client_id`` (one asks a scope more)."""
    pages = []
    for i, http in enumerate(jars):
        flow = Flow(server, http, client_id, scope="openid Patient.read" + (" offline_access" if i % 2 else ""))
        page = flow.authorize()
        if page.status_code == 303:
            page = flow.sign_in_from(page, "doc@example.com")
        assert page.status_code == 200 and "Allow" in page.text, page.text
        pages.append((flow, page))
    return pages


def test_simultaneous_first_consents_give_one_row_and_every_code(doc: tuple[LiveServer, str]) -> None:
    server, user_id = doc
    for _ in range(ROUNDS):
        record, _ = code_client(server)
        jars = [server.client() for _ in range(BROWSERS)]
        try:
            pages = _consent_pages(server, record.client_id, jars)
            gate = threading.Barrier(BROWSERS)

            def allow(pair: tuple[Flow, httpx.Response], gate: threading.Barrier = gate) -> httpx.Response:
                gate.wait(timeout=10)
                return pair[0].answer_consent(pair[1])

            with ThreadPoolExecutor(BROWSERS) as pool:
                answers = list(pool.map(allow, pages))
            for (flow, _), answer in zip(pages, answers, strict=True):
                assert answer.status_code == 303, answer.text
                assert flow.exchange(query_of(answer.headers["location"])["code"]).status_code == 200
        finally:
            for http in jars:
                http.close()

        async def mine(rt: Runtime, client_id: str = record.client_id) -> list[tuple[str, ...]]:
            return [c.scopes for c in await list_consents(rt, user_id) if c.client_id == client_id]

        rows = server.call(mine)
        assert len(rows) == 1
        assert set(rows[0]) == {"openid", "Patient.read", "offline_access"}

