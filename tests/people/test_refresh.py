"""``POST /auth/refresh`` (spec §D): rotation on every use, atomic under concurrency (exactly one
winner on SQLite and PostgreSQL), the reuse grace period, reuse detection revoking the session (retries
after a lost reply: test_refresh_retry), idle and absolute session lifetimes, and tokens that follow the
user's current role."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

import httpx

from tests.people.helpers import audit_types, bearer, introspect, jwt_claims, make_user, tokens
from tests.support import LiveServer
from tokensmith.clock import ManualClock

INVALID = {"error": "Invalid refresh token"}


def _refresh(http: httpx.Client, token: str) -> httpx.Response:
    return http.post("/auth/refresh", json={"refreshToken": token})


async def _concurrent_refreshes(url: str, token: str, n: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        return list(await asyncio.gather(*(http.post("/auth/refresh", json={"refreshToken": token})
                                           for _ in range(n))))


def test_refresh_rotates_and_keeps_the_session(any_server: LiveServer) -> None:
    make_user(any_server, "u@example.com", role="developer")
    with any_server.client() as http:
        first = tokens(http, "u@example.com")
        resp = _refresh(http, first["refreshToken"])
        assert resp.status_code == 200, resp.text
        second = resp.json()
        third = _refresh(http, second["refreshToken"]).json()
    assert set(second) == {"accessToken", "refreshToken", "expiresIn"}
    assert second["expiresIn"] == "900s"
    assert len({first["refreshToken"], second["refreshToken"], third["refreshToken"]}) == 3
    sids = {jwt_claims(t["accessToken"])["sid"] for t in (first, second, third)}
    assert len(sids) == 1
    claims = jwt_claims(third["accessToken"])
    assert claims["role"] == "developer" and "ApiKey.*" in claims["scope"].split()
    assert "session.refreshed" in audit_types(any_server, "session.")


def test_fifty_concurrent_refreshes_with_one_token_give_exactly_one_new_token(
        any_server_with: Callable[..., LiveServer]) -> None:
    """Strict mode (no grace period, no retry window): one winner; every loser is a reuse, so the session
    ends too. (With the defaults the losers get 409: see the next test and test_refresh_retry.)"""
    server = any_server_with(refresh_reuse_grace=0, refresh_retry_window=0)
    make_user(server, "race@example.com")
    with server.client() as http:
        start = tokens(http, "race@example.com")
    responses = asyncio.run(_concurrent_refreshes(server.url, start["refreshToken"], 50))
    statuses = Counter(r.status_code for r in responses)
    assert statuses[200] == 1, statuses
    assert statuses[401] == 49, statuses
    assert all(r.json() == INVALID for r in responses if r.status_code == 401)
    winner = next(r.json() for r in responses if r.status_code == 200)
    with server.client() as http:
        # reuse revoked the whole session, the winner's new token included
        assert _refresh(http, winner["refreshToken"]).status_code == 401
    assert audit_types(server, "session.revoked").count("session.revoked") == 1


def test_concurrent_refreshes_within_the_grace_period_keep_the_session(
        any_server_with: Callable[..., LiveServer]) -> None:
    server = any_server_with(refresh_reuse_grace=30)
    make_user(server, "race@example.com")
    with server.client() as http:
        start = tokens(http, "race@example.com")
    responses = asyncio.run(_concurrent_refreshes(server.url, start["refreshToken"], 50))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 1, 409: 49}, statuses
    loser = next(r for r in responses if r.status_code == 409)
    assert loser.json()["error"].startswith("Refresh token already used")
    winner = next(r.json() for r in responses if r.status_code == 200)
    with server.client() as http:
        assert _refresh(http, winner["refreshToken"]).status_code == 200


def test_reuse_after_the_grace_period_revokes_the_session(server_with: Callable[..., LiveServer]) -> None:
    """The old token comes back after its successor was used: copied — the session is revoked."""
    clock = ManualClock()
    server = server_with(clock=clock, refresh_reuse_grace=10)
    make_user(server, "victim@example.com")
    with server.client() as http:
        first = tokens(http, "victim@example.com")
        second = _refresh(http, first["refreshToken"]).json()
        clock.advance(5)
        assert _refresh(http, first["refreshToken"]).status_code == 409  # a concurrent client, probably
        assert introspect(server, http, second["accessToken"])["active"] is True
        clock.advance(6)
        third = _refresh(http, second["refreshToken"]).json()  # the legitimate client moves on
        stolen = _refresh(http, first["refreshToken"])  # the old token again, 11 s after its use
        assert stolen.status_code == 401 and stolen.json() == INVALID
        # everything of the session is dead: the legitimate refresh token and the access tokens
        assert _refresh(http, third["refreshToken"]).status_code == 401
        assert introspect(server, http, third["accessToken"])["active"] is False
        assert http.get("/users/me", headers=bearer(third["accessToken"])).status_code == 401
        # other sessions of the user are untouched
        other = tokens(http, "victim@example.com")
        assert _refresh(http, other["refreshToken"]).status_code == 200
    types = audit_types(server, "session.")
    assert "session.refresh_reuse_detected" in types
    assert "session.revoked" in types


def test_unknown_or_malformed_refresh_tokens(server: LiveServer) -> None:
    with server.client() as http:
        unknown = _refresh(http, "no-such-token")
        missing = http.post("/auth/refresh", json={})
        jwt_like = _refresh(http, "a.b.c")
    assert unknown.status_code == 401 and unknown.json() == INVALID
    assert jwt_like.status_code == 401
    assert missing.status_code == 400
    assert missing.json() == [{"loc": ["refreshToken"], "msg": "Field required", "type": "missing"}]


def test_idle_sessions_end(server_with: Callable[..., LiveServer]) -> None:
    clock = ManualClock()
    server = server_with(clock=clock, session_idle_timeout=3600, session_absolute_timeout=86400)
    make_user(server, "idle@example.com")
    with server.client() as http:
        first = tokens(http, "idle@example.com")
        clock.advance(3000)
        second = _refresh(http, first["refreshToken"])
        assert second.status_code == 200  # active in time: the idle clock starts again
        clock.advance(3000)
        third = _refresh(http, second.json()["refreshToken"])
        assert third.status_code == 200
        clock.advance(3601)
        assert _refresh(http, third.json()["refreshToken"]).status_code == 401


def test_sessions_end_after_the_absolute_lifetime(server_with: Callable[..., LiveServer]) -> None:
    clock = ManualClock()
    server = server_with(clock=clock, session_idle_timeout=3600, session_absolute_timeout=10_000)
    make_user(server, "long@example.com")
    with server.client() as http:
        current = tokens(http, "long@example.com")["refreshToken"]
        for _ in range(3):
            clock.advance(3000)
            resp = _refresh(http, current)
            assert resp.status_code == 200
            current = resp.json()["refreshToken"]
        clock.advance(1001)  # 10,001 s after sign-in, though refreshed 1,001 s ago
        assert _refresh(http, current).status_code == 401


def test_refresh_picks_up_a_new_role_and_old_tokens_are_cut_off(any_server: LiveServer) -> None:
    from tokensmith.people.users import update_user

    user = make_user(any_server, "promoted@example.com", role="member")
    with any_server.client() as http:
        before = tokens(http, "promoted@example.com")
        any_server.call(lambda rt: update_user(rt, user.id, role="developer", actor="test"))
        after = _refresh(http, before["refreshToken"]).json()
        assert jwt_claims(after["accessToken"])["role"] == "developer"
        assert introspect(any_server, http, before["accessToken"])["active"] is False
        assert introspect(any_server, http, after["accessToken"])["active"] is True
    assert "user.role_changed" in audit_types(any_server, "user.")


def test_disabled_users_cannot_refresh(server: LiveServer) -> None:
    from tokensmith.people.users import update_user

    user = make_user(server, "off@example.com")
    with server.client() as http:
        pair = tokens(http, "off@example.com")
        server.call(lambda rt: update_user(rt, user.id, status="disabled", actor="test"))
        assert _refresh(http, pair["refreshToken"]).status_code == 401
        assert introspect(server, http, pair["accessToken"])["active"] is False


def test_refresh_tokens_are_introspectable(server: LiveServer) -> None:
    user = make_user(server, "intro@example.com")
    with server.client() as http:
        pair = tokens(http, "intro@example.com")
        active = introspect(server, http, pair["refreshToken"], token_type_hint="refresh_token")
        _refresh(http, pair["refreshToken"])
        used = introspect(server, http, pair["refreshToken"])
    assert active["active"] is True
    assert active["token_type"] == "refresh_token"
    assert active["sub"] == user.id and active["tenant"] == server.tenant_id
    assert used == {"active": False}


def test_refresh_tokens_are_stored_only_as_keyed_hashes(server: LiveServer) -> None:
    from sqlalchemy import select

    from tokensmith.storage.models import Token

    make_user(server, "hash@example.com")
    with server.client() as http:
        pair = tokens(http, "hash@example.com")

    async def stored(rt: object) -> list[str]:
        async with rt.db.session() as session:  # type: ignore[attr-defined]
            return list((await session.execute(select(Token.token_hash).where(Token.kind == "refresh"))).scalars())

    hashes = server.call(stored)
    assert pair["refreshToken"] not in hashes
    assert server.runtime.master.secret_hash(pair["refreshToken"]) in hashes
