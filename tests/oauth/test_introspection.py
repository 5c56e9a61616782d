"""RFC 7662 — Token Introspection: the caller authenticates (§2.1); an active token is described; an
expired, foreign-tenant, revoked or unknown token is exactly ``{"active": false}`` (§2.2)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.oauth.helpers import basic, get_token, introspect
from tests.support import LiveServer
from tokensmith.clients import ClientRecord, create_client, set_client_status
from tokensmith.clock import ManualClock
from tokensmith.tenants.provisioning import ensure_tenant

INACTIVE = {"active": False}
formats = pytest.mark.parametrize("fmt", ["jwt", "opaque"])


def test_introspection_requires_client_authentication(any_server: LiveServer) -> None:
    record, secret = any_server.create_client(scopes=["api.read"])
    with any_server.client() as http:
        token = get_token(http, record.client_id, secret or "")["access_token"]
        anonymous = http.post("/oauth/introspect", data={"token": token})
        bearer = http.post("/oauth/introspect", data={"token": token}, headers={"Authorization": f"Bearer {token}"})
        wrong = http.post("/oauth/introspect", data={"token": token}, headers=basic(record.client_id, "wrong"))
        unknown = http.post("/oauth/introspect", data={"token": token, "client_id": "nobody", "client_secret": "x"})
    for resp in (anonymous, bearer, wrong, unknown):
        assert resp.status_code == 401, resp.text
        assert resp.json()["error"] == "invalid_client"
        assert "active" not in resp.json()
        assert resp.headers["cache-control"] == "no-store"
    assert "www-authenticate" in wrong.headers
    assert "www-authenticate" not in anonymous.headers


def test_introspection_by_a_disabled_client_is_refused(server: LiveServer) -> None:
    record, secret = server.create_client()
    caller, caller_secret = server.create_client()
    with server.client() as http:
        token = get_token(http, record.client_id, secret or "")["access_token"]
        server.call(lambda rt: set_client_status(rt, caller.client_id, False))
        resp = http.post("/oauth/introspect", data={"token": token}, headers=basic(caller.client_id,
                                                                                   caller_secret or ""))
    assert resp.status_code == 401 and resp.json()["error"] == "invalid_client"


def test_missing_token_is_invalid_request(server: LiveServer) -> None:
    record, secret = server.create_client()
    with server.client() as http:
        resp = http.post("/oauth/introspect", data={}, headers=basic(record.client_id, secret or ""))
        wrong_type = http.post("/oauth/introspect", json={"token": "x"}, headers=basic(record.client_id, secret or ""))
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_request"
    assert wrong_type.status_code == 400 and wrong_type.json()["error"] == "invalid_request"


@formats
def test_active_token_is_described(any_server: LiveServer, fmt: str) -> None:
    record, secret = any_server.create_client(scopes=["Patient.read", "Observation.read"], access_token_format=fmt,
                                              access_token_ttl=1234)
    caller, caller_secret = any_server.create_client()  # another client of the same tenant
    with any_server.client() as http:
        token = get_token(http, record.client_id, secret or "")["access_token"]
        own = introspect(http, token, record.client_id, secret or "")
        other = introspect(http, token, caller.client_id, caller_secret or "")
        resp = http.post("/oauth/introspect", data={"token": token}, headers=basic(record.client_id, secret or ""))
    assert resp.headers["cache-control"] == "no-store" and resp.headers["pragma"] == "no-cache"
    for info in (own, other):
        assert info["active"] is True
        assert info["scope"] == "Patient.read Observation.read"
        assert info["client_id"] == record.client_id
        assert info["sub"] == record.client_id
        assert info["token_type"] == "Bearer"
        assert info["iss"] == any_server.settings.issuer
        assert info["aud"] == any_server.settings.issuer
        assert info["exp"] - info["iat"] == 1234
        assert isinstance(info["jti"], str)


@formats
def test_wrong_token_type_hint_still_finds_the_token(server: LiveServer, fmt: str) -> None:
    """§2.1: if the hint is wrong the server MUST extend its search across all supported token types."""
    record, secret = server.create_client(access_token_format=fmt)
    with server.client() as http:
        token = get_token(http, record.client_id, secret or "")["access_token"]
        for hint in ("refresh_token", "access_token", "nonsense"):
            assert introspect(http, token, record.client_id, secret or "", token_type_hint=hint)["active"] is True


@formats
def test_expired_token_is_exactly_inactive(clocked_server: LiveServer, clock: ManualClock, fmt: str) -> None:
    live = clocked_server
    record, secret = live.create_client(scopes=["api.read"], access_token_format=fmt, access_token_ttl=300)
    with live.client() as http:
        token = get_token(http, record.client_id, secret or "")["access_token"]
        issued_at = clock.now()
        clock.advance(299)
        assert introspect(http, token, record.client_id, secret or "")["active"] is True
        # RFC 7519 §4.1.4: not accepted "on or after" exp. The clock-skew leeway is for relying parties with
        # their own clocks; the issuer's own introspection answers for the exp it wrote itself (and then
        # agrees with expires_in, for both formats).
        clock.advance(int(issued_at) + 300 - clock.now())
        resp = http.post("/oauth/introspect", data={"token": token}, headers=basic(record.client_id, secret or ""))
    assert resp.status_code == 200
    assert resp.json() == INACTIVE
    assert resp.content.replace(b" ", b"") == b'{"active":false}'


@formats
def test_token_of_another_tenant_is_inactive(any_server: LiveServer, fmt: str) -> None:
    async def other_tenant_client(rt: Any) -> tuple[ClientRecord, str | None]:
        tenant = await ensure_tenant(rt, "other-tenant")
        return await create_client(rt, tenant_id=tenant.id, name="other", scopes=["api.read"])

    ours, our_secret = any_server.create_client(scopes=["api.read"], access_token_format=fmt)
    theirs, their_secret = any_server.call(other_tenant_client)
    with any_server.client() as http:
        our_token = get_token(http, ours.client_id, our_secret or "")["access_token"]
        their_token = get_token(http, theirs.client_id, their_secret or "")["access_token"]
        assert introspect(http, our_token, theirs.client_id, their_secret or "") == INACTIVE
        assert introspect(http, their_token, ours.client_id, our_secret or "") == INACTIVE
        # Controls: each tenant sees its own token.
        assert introspect(http, our_token, ours.client_id, our_secret or "")["active"] is True
        assert introspect(http, their_token, theirs.client_id, their_secret or "")["active"] is True
