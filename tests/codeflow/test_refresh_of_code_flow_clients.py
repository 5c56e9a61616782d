"""``grant_type=refresh_token`` for code-flow clients: rotation with the reuse rules of ``/auth/refresh``,
``offline_access`` outliving the browser session and ``online_access`` ending with it, scope narrowing
only, and refresh tokens that work only for their own client and their own endpoint. On SQLite and
PostgreSQL."""

from __future__ import annotations

import httpx
import pytest

from tests.codeflow.helpers import Flow, code_client
from tests.people.helpers import introspect, jwt_claims, make_user, tokens
from tests.support import LiveServer
from tests.web.helpers import csrf_of
from tokensmith.clock import ManualClock


@pytest.fixture
def doc(clocked: LiveServer) -> LiveServer:
    make_user(clocked, "doc@example.com", role="developer")
    return clocked


def _first(server: LiveServer, http: httpx.Client, client_id: str, scope: str) -> tuple[Flow, dict[str, str]]:
    flow = Flow(server, http, client_id, scope=scope)
    resp = flow.exchange(flow.code("doc@example.com"))
    assert resp.status_code == 200, resp.text
    return flow, resp.json()


def test_rotation_and_reuse_revoke_the_session(doc: LiveServer, clock: ManualClock) -> None:
    record, _ = code_client(doc)
    with doc.client() as http:
        flow, first = _first(doc, http, record.client_id, "openid Patient.read offline_access")
        second = flow.refresh(first["refresh_token"])
        assert second.status_code == 200, second.text
        body = second.json()
        assert body["refresh_token"] != first["refresh_token"] and body["scope"] == first["scope"]
        assert jwt_claims(body["access_token"])["sid"] == jwt_claims(first["access_token"])["sid"]
        assert "id_token" in body
        clock.advance(doc.settings.refresh_retry_window + 1)
        reused = flow.refresh(first["refresh_token"])  # the old one again, long after: a copy
        assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
        assert flow.refresh(body["refresh_token"]).json()["error"] == "invalid_grant"  # the session is gone
        doc.call(lambda rt: rt.revocations.poll())
        assert introspect(doc, http, body["access_token"])["active"] is False


def test_a_concurrent_reuse_within_the_grace_keeps_the_session(doc: LiveServer) -> None:
    record, _ = code_client(doc)
    with doc.client() as http:
        flow, first = _first(doc, http, record.client_id, "Patient.read offline_access")
        second = flow.refresh(first["refresh_token"]).json()
        racing = flow.refresh(first["refresh_token"])
        assert racing.status_code == 400 and racing.json()["error"] == "invalid_grant"
        assert "concurrent" in racing.json()["error_description"]
        assert flow.refresh(second["refresh_token"]).status_code == 200


def test_offline_access_survives_sign_out_and_online_access_does_not(doc: LiveServer) -> None:
    record, _ = code_client(doc)
    with doc.client() as http:
        _, offline = _first(doc, http, record.client_id, "Patient.read offline_access")
        flow, online = _first(doc, http, record.client_id, "Patient.read online_access")
        signout = http.post("/signout", data={"csrf_token": csrf_of(http.get("/signin").text)},
                            headers={"sec-fetch-site": "same-origin"})
        assert signout.status_code == 303
        assert flow.refresh(offline["refresh_token"]).status_code == 200
        gone = flow.refresh(online["refresh_token"])
    assert gone.status_code == 400 and gone.json()["error"] == "invalid_grant"


def test_scope_may_narrow_but_not_widen(doc: LiveServer) -> None:
    record, _ = code_client(doc)
    with doc.client() as http:
        flow, first = _first(doc, http, record.client_id, "Patient.read Observation.read offline_access")
        wider = flow.refresh(first["refresh_token"], scope="Patient.read Patient.write")
        assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
        narrow = flow.refresh(first["refresh_token"], scope="Patient.read")
        assert narrow.status_code == 200 and narrow.json()["scope"] == "Patient.read"
        full = flow.refresh(narrow.json()["refresh_token"])  # the refresh token keeps the whole grant
        assert full.json()["scope"] == "Patient.read Observation.read offline_access"


def test_refresh_tokens_stay_with_their_client_and_their_endpoint(doc: LiveServer) -> None:
    record, _ = code_client(doc)
    other, _ = code_client(doc, name="Other App")
    with doc.client() as http:
        flow, first = _first(doc, http, record.client_id, "Patient.read offline_access")
        stolen = flow.refresh(first["refresh_token"], client_id=other.client_id)
        assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
        at_login = http.post("/auth/refresh", json={"refreshToken": first["refresh_token"]})
        assert at_login.status_code == 401
        login_refresh = tokens(http, "doc@example.com")["refreshToken"]
        assert flow.refresh(login_refresh).json()["error"] == "invalid_grant"
        assert flow.refresh(first["refresh_token"]).status_code == 200  # none of that used it up


def test_no_refresh_token_without_offline_or_online_access_or_the_grant(doc: LiveServer) -> None:
    record, _ = code_client(doc)
    without_grant, _ = code_client(doc, refresh=False, name="No refresh")
    with doc.client() as http:
        _, plain = _first(doc, http, record.client_id, "Patient.read")
        assert "refresh_token" not in plain
        flow = Flow(doc, http, without_grant.client_id, scope="Patient.read offline_access")
        got = flow.authorize()
    assert "error=invalid_scope" in got.headers["location"]
