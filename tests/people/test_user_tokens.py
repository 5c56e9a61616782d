"""Personal user tokens (spec §C): created and revoked by the user, shown once, stored as keyed hashes,
never expiring on their own; ``POST /api/user/oauth2/token`` returns the spec's body with an opaque
access token that introspection accepts — and rejects once the user token is revoked."""

from __future__ import annotations

from typing import Any

import httpx

from tests.people.helpers import admin_headers, audit_types, bearer, introspect, make_user, tokens
from tests.support import LiveServer
from tokensmith.clock import ManualClock

BODY_KEYS = {"user_id", "access_token", "session_id", "role", "refresh_token", "role_permissions",
             "project_permissions", "tenant"}


def _create(http: httpx.Client, access: str, name: str = "my script") -> dict[str, Any]:
    resp = http.post("/user-tokens", json={"name": name}, headers=bearer(access))
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


def _exchange(http: httpx.Client, token: str, **extra: str) -> httpx.Response:
    return http.post("/api/user/oauth2/token", data={"grant_type": "refresh_token", "refresh_token": token, **extra})


def test_user_token_gives_an_opaque_access_token_accepted_by_introspection(any_server: LiveServer) -> None:
    user = make_user(any_server, "dev@example.com", role="developer", project_permissions=["p1:Patient.read"])
    with any_server.client() as http:
        created = _create(http, tokens(http, "dev@example.com")["accessToken"])
        token = created["token"]
        resp = _exchange(http, token)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert set(body) == BODY_KEYS
        assert body["user_id"] == user.id
        assert body["refresh_token"] == token
        assert body["role"] == "developer"
        assert body["role_permissions"] == ["ApiKey.*", "Client.*", "App.*", "UserToken.*", "Session.*", "*.read"]
        assert body["project_permissions"] == ["p1:Patient.read"]
        assert body["tenant"] == any_server.tenant_id
        assert body["session_id"] == created["sessionId"]
        assert body["access_token"].count(".") == 0  # opaque, not a JWT
        assert resp.headers["cache-control"] == "no-store"
        info = introspect(any_server, http, body["access_token"])
        assert info["active"] is True
        assert info["sub"] == info["uid"] == user.id
        assert info["sid"] == body["session_id"]
        assert info["role"] == "developer"
        assert info["exp"] - info["iat"] == 600
        # the access token is a Bearer token for the management API, with the user's permissions
        me = http.get("/users/me", headers=bearer(body["access_token"]))
        assert me.status_code == 200 and me.json()["id"] == user.id
        # revocation: the user token is gone (410) and its access tokens die at once
        assert http.delete(f"/user-tokens/{created['id']}",
                           headers=bearer(tokens(http, "dev@example.com")["accessToken"])).status_code == 204
        gone = _exchange(http, token)
        assert gone.status_code == 410
        assert gone.json()["error"] == "invalid_grant"
        assert introspect(any_server, http, body["access_token"]) == {"active": False}
        assert http.get("/users/me", headers=bearer(body["access_token"])).status_code == 401
    assert {"user_token.created", "user_token.used", "user_token.revoked"} <= set(audit_types(any_server, "user_token"))


def test_unknown_user_token_is_404_and_bad_requests_are_400(server: LiveServer) -> None:
    with server.client() as http:
        unknown = _exchange(http, "0" * 64)
        wrong_grant = http.post("/api/user/oauth2/token", data={"grant_type": "password", "refresh_token": "x"})
        no_grant = http.post("/api/user/oauth2/token", data={"refresh_token": "x"})
        no_token = http.post("/api/user/oauth2/token", data={"grant_type": "refresh_token"})
        json_body = http.post("/api/user/oauth2/token", json={"grant_type": "refresh_token", "refresh_token": "x"})
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "invalid_grant", "error_description": "unknown user token"}
    assert wrong_grant.status_code == 400 and wrong_grant.json()["error"] == "unsupported_grant_type"
    assert no_grant.status_code == 400 and no_grant.json()["error"] == "invalid_request"
    assert no_token.status_code == 400 and no_token.json()["error"] == "invalid_request"
    assert json_body.status_code == 400


def test_user_tokens_never_expire_but_their_access_tokens_do(server_with: Any) -> None:
    clock = ManualClock()
    server = server_with(clock=clock)
    make_user(server, "forever@example.com")
    with server.client() as http:
        token = _create(http, tokens(http, "forever@example.com")["accessToken"])["token"]
        access = _exchange(http, token).json()["access_token"]
        clock.advance(601)
        assert introspect(server, http, access)["active"] is False
        clock.advance(3 * 365 * 24 * 3600)
        again = _exchange(http, token)
        assert again.status_code == 200
        assert introspect(server, http, again.json()["access_token"])["active"] is True


def test_the_token_is_shown_once_and_stored_as_a_keyed_hash(server: LiveServer) -> None:
    from sqlalchemy import select

    from tokensmith.storage.models import Token

    make_user(server, "once@example.com")
    with server.client() as http:
        access = tokens(http, "once@example.com")["accessToken"]
        created = _create(http, access, "laptop")
        listed = http.get("/user-tokens", headers=bearer(access)).json()
    assert created["name"] == "laptop" and created["active"] is True and len(created["token"]) == 64
    assert [t["id"] for t in listed] == [created["id"]]
    assert "token" not in listed[0]

    async def hashes(rt: Any) -> list[str]:
        async with rt.db.session() as session:
            return list((await session.execute(select(Token.token_hash).where(Token.kind == "user_token"))).scalars())

    stored = server.call(hashes)
    assert created["token"] not in stored
    assert server.runtime.master.secret_hash(created["token"]) in stored


def test_only_the_owner_or_a_user_admin_revokes(server: LiveServer) -> None:
    make_user(server, "owner@example.com")
    make_user(server, "other@example.com")
    with server.client() as http:
        mine = _create(http, tokens(http, "owner@example.com")["accessToken"])
        other_access = tokens(http, "other@example.com")["accessToken"]
        assert http.delete(f"/user-tokens/{mine['id']}", headers=bearer(other_access)).status_code == 403
        assert http.get("/user-tokens", params={"user_id": mine["userId"]},
                        headers=bearer(other_access)).status_code == 200  # members hold *.read
        admin = admin_headers(server, http)
        assert http.delete(f"/user-tokens/{mine['id']}", headers=admin).status_code == 204
        assert http.delete("/user-tokens/no-such-id", headers=admin).status_code == 404
        assert _exchange(http, mine["token"]).status_code == 410


def test_a_disabled_users_tokens_are_refused(server: LiveServer) -> None:
    from tokensmith.people.users import update_user

    user = make_user(server, "leaver@example.com")
    with server.client() as http:
        token = _create(http, tokens(http, "leaver@example.com")["accessToken"])["token"]
        access = _exchange(http, token).json()["access_token"]
        server.call(lambda rt: update_user(rt, user.id, status="disabled", actor="test"))
        assert _exchange(http, token).status_code == 410
        assert introspect(server, http, access)["active"] is False
        server.call(lambda rt: update_user(rt, user.id, status="active", actor="test"))
        assert _exchange(http, token).status_code == 200


def test_user_tokens_are_introspectable(server: LiveServer) -> None:
    user = make_user(server, "ut@example.com")
    with server.client() as http:
        created = _create(http, tokens(http, "ut@example.com")["accessToken"])
        info = introspect(server, http, created["token"], token_type_hint="refresh_token")
    assert info["active"] is True and info["token_type"] == "user_token" and info["sub"] == user.id
    assert "exp" not in info


def test_guessing_user_tokens_is_throttled_per_ip(server_with: Any) -> None:
    server = server_with(client_auth_failures_per_minute=3)
    make_user(server, "real@example.com")
    with server.client() as http:
        token = _create(http, tokens(http, "real@example.com")["accessToken"])["token"]
        guesses = [_exchange(http, f"{i:064x}").status_code for i in range(4)]
        throttled = _exchange(http, "f" * 64)
        still_fine = _exchange(http, token)
    assert guesses == [404, 404, 404, 429]
    assert throttled.status_code == 429
    assert throttled.json()["retry_after"] >= 1 and "retry-after" in throttled.headers
    assert still_fine.status_code == 200  # valid tokens are never throttled
