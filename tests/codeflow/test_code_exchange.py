"""``grant_type=authorization_code`` (RFC 6749 §4.1.3, RFC 7636 §4.6, OpenID Connect Core §3.1.3): the
response and its tokens, then every way the exchange is refused — wrong or missing verifier, another
redirect URI, an expired code, another client's code, a confidential client without its secret — and a
replayed code, which also revokes every token the first exchange issued. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

from tests.codeflow.helpers import Flow, code_client, pkce
from tests.people.helpers import introspect, jwt_claims, make_user
from tests.support import LiveServer
from tokensmith.clock import ManualClock
from tokensmith.codeflow.id_token import at_hash


@pytest.fixture
def doc(clocked: LiveServer) -> LiveServer:
    make_user(clocked, "doc@example.com", role="developer")
    return clocked


def test_the_code_gives_access_refresh_and_id_tokens(doc: LiveServer) -> None:
    record, _ = code_client(doc)
    with doc.client() as http:
        flow = Flow(doc, http, record.client_id)
        resp = flow.exchange(flow.code("doc@example.com"))
        jwks = KeySet.import_key_set(http.get("/.well-known/jwks.json").json())
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"] == "no-store"
    body = resp.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope", "refresh_token", "id_token"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert body["scope"] == "openid profile Patient.read offline_access"
    access = jwt_claims(body["access_token"])
    assert access["client_id"] == record.client_id and access["scope"] == body["scope"]
    id_token = jose_jwt.decode(body["id_token"], jwks, algorithms=["ES256"])
    claims = id_token.claims
    user_id = access["sub"]
    assert claims["iss"] == doc.settings.issuer and claims["aud"] == record.client_id and claims["sub"] == user_id
    assert claims["nonce"] == "nonce-456" and claims["amr"] == ["pwd"]
    assert claims["at_hash"] == at_hash(body["access_token"], "ES256")
    assert claims["exp"] > claims["iat"] >= claims["auth_time"]
    assert claims["sid"] == access["sid"]


def test_a_confidential_client_authenticates_and_without_openid_there_is_no_id_token(doc: LiveServer) -> None:
    record, secret = code_client(doc, public=False)
    with doc.client() as http:
        flow = Flow(doc, http, record.client_id, scope="Patient.read")
        code = flow.code("doc@example.com")
        anonymous = flow.exchange(code)  # client_id alone: a confidential client must authenticate
        assert anonymous.status_code == 401 and anonymous.json()["error"] == "invalid_client"
        code = flow.code("doc@example.com")
        resp = flow.exchange(code, secret=secret)
    assert resp.status_code == 200, resp.text
    assert "id_token" not in resp.json() and "refresh_token" not in resp.json()


@pytest.mark.parametrize("change, error, words", [
    ({"code_verifier": pkce()[0]}, "invalid_grant", "code_verifier does not match"),
    ({"code_verifier": ""}, "invalid_request", "code_verifier is required"),
    ({"code_verifier": "too-short"}, "invalid_request", "43 to 128"),
    ({"redirect_uri": "https://app.example/other"}, "invalid_grant", "redirect_uri does not match"),
    ({"code": "not-a-code"}, "invalid_grant", "invalid or expired"),
])
def test_the_exchange_is_refused(doc: LiveServer, change: dict[str, str], error: str, words: str) -> None:
    record, _ = code_client(doc)
    with doc.client() as http:
        flow = Flow(doc, http, record.client_id)
        code = flow.code("doc@example.com")
        resp = flow.exchange(change.get("code", code), **{k: v for k, v in change.items() if k != "code"})
        assert resp.status_code == 400
        assert resp.json()["error"] == error and words in resp.json()["error_description"]
        again = flow.exchange(code)
        if error == "invalid_grant" and "code" not in change:  # the code was redeemed: used up, whatever next
            assert again.json()["error"] == "invalid_grant"
        else:  # refused before the code was looked at: it is still good
            assert again.status_code == 200


def test_an_expired_code_is_refused(doc: LiveServer, clock: ManualClock) -> None:
    record, _ = code_client(doc)
    with doc.client() as http:
        flow = Flow(doc, http, record.client_id)
        code = flow.code("doc@example.com")
        clock.advance(doc.settings.authorization_code_ttl + 1)
        resp = flow.exchange(code)
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"


def test_another_clients_code_is_refused(doc: LiveServer) -> None:
    first, _ = code_client(doc)
    second, _ = code_client(doc, name="Other App")
    with doc.client() as http:
        flow = Flow(doc, http, first.client_id)
        code = flow.code("doc@example.com")
        stolen = flow.exchange(code, client_id=second.client_id)
        assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
        assert flow.exchange(code).status_code == 200  # the rightful client still can


def test_a_replayed_code_is_refused_and_revokes_what_it_issued(doc: LiveServer) -> None:
    record, _ = code_client(doc)
    with doc.client() as http:
        flow = Flow(doc, http, record.client_id)
        code = flow.code("doc@example.com")
        first = flow.exchange(code).json()
        assert introspect(doc, http, first["access_token"])["active"] is True
        replay = flow.exchange(code)
        assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
        assert "revoked" in replay.json()["error_description"]
        doc.call(lambda rt: rt.revocations.poll())
        assert introspect(doc, http, first["access_token"])["active"] is False
        refreshed = flow.refresh(first["refresh_token"])
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
