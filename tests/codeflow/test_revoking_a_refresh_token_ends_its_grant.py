"""RFC 7009 for code-flow refresh tokens: the client revokes one (the current token or a rotated-away
one, with any ``token_type_hint``) and its grant ends: no more refreshes, and the grant's access tokens
are inactive. Another grant of the same user and app goes on. Another client's revocation, and a
client's revocation of a sign-in refresh token (``/auth/refresh``), get the same 200 and change nothing.
The audit log says which happened (never with the token). On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.codeflow.helpers import Flow, code_client
from tests.people.helpers import bearer, introspect, make_user, tokens
from tests.support import LiveServer
from tokensmith.audit.operations import export

SCOPE = "openid Patient.read offline_access"


@pytest.fixture
def doc(clocked: LiveServer) -> LiveServer:
    make_user(clocked, "doc@example.com", role="developer")
    return clocked


def _grant(server: LiveServer, http: httpx.Client, client_id: str) -> tuple[Flow, dict[str, str]]:
    flow = Flow(server, http, client_id, scope=SCOPE)
    resp = flow.exchange(flow.code("doc@example.com"))
    assert resp.status_code == 200, resp.text
    return flow, resp.json()


def _events(server: LiveServer, event_type: str) -> list[dict[str, Any]]:
    server.call(lambda rt: rt.audit.flush())
    events = [json.loads(line) for line in server.call(lambda rt: export(rt))]
    return [e for e in events if e["type"] == event_type]


def _revoke(http: httpx.Client, client_id: str, token: str, hint: str | None = None) -> None:
    form = {"token": token, "client_id": client_id, **({"token_type_hint": hint} if hint else {})}
    resp = http.post("/oauth/revoke", data=form)
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize("hint", [None, "refresh_token", "access_token"])
def test_revoking_the_refresh_token_ends_the_grant_and_its_access_tokens(doc: LiveServer, hint: str | None) -> None:
    record, _ = code_client(doc)
    with doc.client() as http:
        flow, first = _grant(doc, http, record.client_id)
        _, other_grant = _grant(doc, http, record.client_id)
        second = flow.refresh(first["refresh_token"]).json()
        _revoke(http, record.client_id, second["refresh_token"], hint)
        refused = flow.refresh(second["refresh_token"])
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
        for access in (first["access_token"], second["access_token"]):
            assert introspect(doc, http, access)["active"] is False
        assert http.get("/oauth/userinfo", headers=bearer(second["access_token"])).status_code == 401
        assert flow.refresh(other_grant["refresh_token"]).status_code == 200  # only that grant ended


def test_a_rotated_away_refresh_token_also_ends_the_grant(doc: LiveServer) -> None:
    record, _ = code_client(doc)
    with doc.client() as http:
        flow, first = _grant(doc, http, record.client_id)
        second = flow.refresh(first["refresh_token"]).json()
        _revoke(http, record.client_id, first["refresh_token"])
        _revoke(http, record.client_id, first["refresh_token"])  # again: the same 200, nothing more
        assert flow.refresh(second["refresh_token"]).json()["error"] == "invalid_grant"
        assert introspect(doc, http, second["access_token"])["active"] is False
    [event] = _events(doc, "token.revoked")
    assert event["actor"] == record.client_id and event["data"]["kind"] == "refresh_token"
    assert first["refresh_token"] not in json.dumps(event)


def test_another_client_cannot_revoke_it(doc: LiveServer) -> None:
    record, _ = code_client(doc)
    other, _ = code_client(doc, name="Other App")
    with doc.client() as http:
        flow, first = _grant(doc, http, record.client_id)
        _revoke(http, other.client_id, first["refresh_token"], "refresh_token")
        assert introspect(doc, http, first["access_token"])["active"] is True
        assert flow.refresh(first["refresh_token"]).status_code == 200
    [refused] = _events(doc, "token.revoke_refused")
    assert refused["actor"] == other.client_id and refused["data"]["reason"] == "token belongs to another client"
    assert _events(doc, "token.revoked") == []


def test_a_client_cannot_revoke_a_sign_in_refresh_token(doc: LiveServer) -> None:
    record, _ = code_client(doc)
    with doc.client() as http:
        signed_in = tokens(http, "doc@example.com")
        _revoke(http, record.client_id, signed_in["refreshToken"], "refresh_token")
        again = http.post("/auth/refresh", json={"refreshToken": signed_in["refreshToken"]})
    assert again.status_code == 200, again.text
