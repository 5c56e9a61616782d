"""RFC 7009 — Token Revocation: the owning client revokes its token; a foreign or unknown token gets the
same 200 and nothing happens (§2.2); a revocation reaches every instance sharing the database within one
second, and survives a restart."""

from __future__ import annotations

import pytest

from tests.oauth.helpers import basic, eventually, get_token, introspect, revoke
from tests.support import LiveServer, make_settings

INACTIVE = {"active": False}
formats = pytest.mark.parametrize("fmt", ["jwt", "opaque"])


@formats
def test_revoked_token_is_inactive(any_server: LiveServer, fmt: str) -> None:
    record, secret = any_server.create_client(scopes=["api.read"], access_token_format=fmt)
    with any_server.client() as http:
        token = get_token(http, record.client_id, secret or "")["access_token"]
        kept = get_token(http, record.client_id, secret or "")["access_token"]
        resp = revoke(http, token, record.client_id, secret or "")
        assert resp.status_code == 200, resp.text
        assert resp.content == b""
        assert resp.headers["cache-control"] == "no-store"
        assert introspect(http, token, record.client_id, secret or "") == INACTIVE
        # Only that token: the client's other token is untouched.
        assert introspect(http, kept, record.client_id, secret or "")["active"] is True
        # Revoking again is still 200.
        assert revoke(http, token, record.client_id, secret or "").status_code == 200


@formats
def test_revocation_with_client_secret_post_and_any_hint(server: LiveServer, fmt: str) -> None:
    record, secret = server.create_client(access_token_format=fmt, auth_method="client_secret_post")
    creds = {"client_id": record.client_id, "client_secret": secret or ""}
    with server.client() as http:
        token = http.post("/oauth/token", data={"grant_type": "client_credentials", **creds}).json()["access_token"]
        resp = http.post("/oauth/revoke", data={"token": token, "token_type_hint": "refresh_token", **creds})
        assert resp.status_code == 200, resp.text
        info = http.post("/oauth/introspect", data={"token": token, **creds})
        assert info.json() == INACTIVE


@formats
def test_revoking_another_clients_token_has_no_effect(any_server: LiveServer, fmt: str) -> None:
    owner, owner_secret = any_server.create_client(access_token_format=fmt)
    other, other_secret = any_server.create_client()
    with any_server.client() as http:
        token = get_token(http, owner.client_id, owner_secret or "")["access_token"]
        resp = revoke(http, token, other.client_id, other_secret or "")
        assert resp.status_code == 200, resp.text
        assert introspect(http, token, owner.client_id, owner_secret or "")["active"] is True


def test_unknown_token_is_200(server: LiveServer) -> None:
    record, secret = server.create_client()
    with server.client() as http:
        for token in ("no-such-token", "a.b.c", "x" * 2000):
            resp = revoke(http, token, record.client_id, secret or "")
            assert resp.status_code == 200, resp.text


def test_missing_token_is_invalid_request(server: LiveServer) -> None:
    record, secret = server.create_client()
    with server.client() as http:
        resp = http.post("/oauth/revoke", data={"token_type_hint": "access_token"},
                         headers=basic(record.client_id, secret or ""))
        empty = http.post("/oauth/revoke", data={"token": ""}, headers=basic(record.client_id, secret or ""))
    for r in (resp, empty):
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_request"
        assert r.headers["cache-control"] == "no-store"


def test_revocation_requires_client_authentication(server: LiveServer) -> None:
    record, secret = server.create_client()
    with server.client() as http:
        token = get_token(http, record.client_id, secret or "")["access_token"]
        anonymous = http.post("/oauth/revoke", data={"token": token})
        wrong = revoke(http, token, record.client_id, "wrong")
        id_only = http.post("/oauth/revoke", data={"token": token, "client_id": record.client_id})
        for resp in (anonymous, wrong, id_only):
            assert resp.status_code == 401, resp.text
            assert resp.json()["error"] == "invalid_client"
        assert "www-authenticate" in wrong.headers
        assert introspect(http, token, record.client_id, secret or "")["active"] is True


@formats
def test_revocation_reaches_a_second_instance_within_a_second(
        server_pair: tuple[LiveServer, LiveServer], fmt: str) -> None:
    first, second = server_pair
    record, secret = first.create_client(access_token_format=fmt)
    with first.client() as http_a, second.client() as http_b:
        on_a = get_token(http_a, record.client_id, secret or "")["access_token"]
        on_b = get_token(http_b, record.client_id, secret or "")["access_token"]
        assert introspect(http_b, on_a, record.client_id, secret or "")["active"] is True
        assert introspect(http_a, on_b, record.client_id, secret or "")["active"] is True

        assert revoke(http_a, on_a, record.client_id, secret or "").status_code == 200
        eventually(lambda: introspect(http_b, on_a, record.client_id, secret or "") == INACTIVE, timeout=1.0)
        assert revoke(http_b, on_b, record.client_id, secret or "").status_code == 200
        eventually(lambda: introspect(http_a, on_b, record.client_id, secret or "") == INACTIVE, timeout=1.0)


@formats
def test_revocation_survives_a_restart(database_url: str, fmt: str) -> None:
    with LiveServer(make_settings(database_url)) as live:
        record, secret = live.create_client(access_token_format=fmt)
        with live.client() as http:
            token = get_token(http, record.client_id, secret or "")["access_token"]
            assert revoke(http, token, record.client_id, secret or "").status_code == 200
    with LiveServer(make_settings(database_url)) as restarted, restarted.client() as http:
        assert introspect(http, token, record.client_id, secret or "") == INACTIVE
