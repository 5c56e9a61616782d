"""Refresh tokens: a lost reply and its retry (docs/security.md, "Refresh tokens: lost replies and
retries"). A client whose refresh was committed but whose reply never arrived (the database link cut
between commit and reply -> 503; or the reply lost on the way back) retries with the same token and
gets a working pair; the session lives. Reuse detection stays: once the successor of a token was used,
or the retry window is over, the old token revokes the session. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import select

from tests.people.helpers import audit_types, bearer, make_user, tokens
from tests.support import LiveServer, TcpProxy, make_settings
from tokensmith.clock import ManualClock
from tokensmith.storage.models import Token

INVALID = {"error": "Invalid refresh token"}


def _refresh(http: httpx.Client, token: str) -> httpx.Response:
    return http.post("/auth/refresh", json={"refreshToken": token})


def _used_at(server: LiveServer, token: str) -> Any:
    async def read(rt: Any) -> Any:
        async with rt.db.session() as session:
            return (await session.execute(select(Token.used_at).where(
                Token.token_hash == rt.master.secret_hash(token)))).scalar_one()

    return server.call(read)


def _refresh_and_hang_up(server: LiveServer, token: str) -> None:
    """Send the refresh and never read the reply (the reply is lost on the way back); wait until the
    server has committed the rotation."""
    body = f'{{"refreshToken": "{token}"}}'.encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"POST /auth/refresh HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        deadline = time.monotonic() + 10
        while _used_at(server, token) is None:
            assert time.monotonic() < deadline, "the refresh was never committed"
            time.sleep(0.02)


def _assert_alive(http: httpx.Client, pair: dict[str, Any]) -> dict[str, Any]:
    """The pair works: its access token is accepted, its refresh token rotates. Returns the next pair."""
    assert http.get("/users/me", headers=bearer(pair["accessToken"])).status_code == 200
    nxt = _refresh(http, pair["refreshToken"])
    assert nxt.status_code == 200, nxt.text
    return dict(nxt.json())


def _assert_reuse_revokes(server: LiveServer, http: httpx.Client, old: str, latest: dict[str, Any]) -> None:
    stolen = _refresh(http, old)
    assert stolen.status_code == 401 and stolen.json() == INVALID
    assert _refresh(http, latest["refreshToken"]).status_code == 401
    assert http.get("/users/me", headers=bearer(latest["accessToken"])).status_code == 401
    assert "session.refresh_reuse_detected" in audit_types(server, "session.")


def test_a_retry_after_a_lost_reply_gets_a_working_pair(any_server_with: Callable[..., LiveServer]) -> None:
    clock = ManualClock()
    server = any_server_with(clock=clock)
    make_user(server, "mobile@example.com")
    with server.client() as http:
        first = tokens(http, "mobile@example.com")
        _refresh_and_hang_up(server, first["refreshToken"])  # committed; the client never saw the reply
        clock.advance(5)  # the client waits, then tries again with the token it has
        retry = _refresh(http, first["refreshToken"])
        assert retry.status_code == 200, retry.text
        after = _assert_alive(http, retry.json())  # and the session lives
        _assert_alive(http, after)
        clock.advance(10)
        # the retried token's successor has now been used: presenting it again is a copy
        _assert_reuse_revokes(server, http, first["refreshToken"], after)
    assert "session.refresh_retried" in audit_types(server, "session.")


def test_the_database_cut_between_commit_and_reply(pg_proxy: tuple[TcpProxy, str]) -> None:
    """PostgreSQL commits the rotation, the link drops before the reply: 503 with Retry-After. The client
    waits as told and retries with the same token: 200, a working pair, the session alive."""
    proxy, url = pg_proxy
    clock = ManualClock()
    with LiveServer(make_settings(url), clock=clock) as server, server.client() as http:
        make_user(server, "cut@example.com")
        first = tokens(http, "cut@example.com")
        proxy.cut_after(server.runtime.master.secret_hash(first["refreshToken"]).encode())
        lost = _refresh(http, first["refreshToken"])
        assert lost.status_code == 503, lost.text
        retry_after = int(lost.headers["retry-after"])
        proxy.restore()
        assert _used_at(server, first["refreshToken"]) is not None  # the rotation was committed
        clock.advance(retry_after)
        retry = _refresh(http, first["refreshToken"])
        assert retry.status_code == 200, retry.text
        after = _assert_alive(http, retry.json())
        clock.advance(10)
        _assert_reuse_revokes(server, http, first["refreshToken"], after)


def test_a_retry_after_the_window_revokes_the_session(any_server_with: Callable[..., LiveServer]) -> None:
    clock = ManualClock()
    server = any_server_with(clock=clock, refresh_retry_window=60)
    make_user(server, "late@example.com")
    with server.client() as http:
        first = tokens(http, "late@example.com")
        second = _refresh(http, first["refreshToken"]).json()
        clock.advance(61)
        _assert_reuse_revokes(server, http, first["refreshToken"], second)


def test_the_invalidated_successor_is_a_reuse_if_it_ever_comes_back(server_with: Callable[..., LiveServer]) -> None:
    """The retry invalidates the successor nobody should hold; if somebody does hold it (the token was
    copied before the retry), presenting it revokes the session like any other reuse."""
    clock = ManualClock()
    server = server_with(clock=clock)
    make_user(server, "copied@example.com")
    with server.client() as http:
        first = tokens(http, "copied@example.com")
        second = _refresh(http, first["refreshToken"]).json()
        clock.advance(5)
        retried = _refresh(http, first["refreshToken"])
        assert retried.status_code == 200
        clock.advance(5)
        _assert_reuse_revokes(server, http, second["refreshToken"], retried.json())


def test_concurrent_retries_give_one_pair(any_server_with: Callable[..., LiveServer]) -> None:
    """Twenty retries of one token at once: exactly one new pair; the others are concurrent refreshes
    (409) and the session lives on with the winner's pair."""
    clock = ManualClock()
    server = any_server_with(clock=clock)
    make_user(server, "burst@example.com")
    with server.client() as http:
        first = tokens(http, "burst@example.com")
        assert _refresh(http, first["refreshToken"]).status_code == 200  # its reply "lost"
    clock.advance(5)

    async def burst() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=20, max_keepalive_connections=20)
        async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as client:
            body = {"refreshToken": first["refreshToken"]}
            return list(await asyncio.gather(*(client.post("/auth/refresh", json=body) for _ in range(20))))

    responses = asyncio.run(burst())
    assert Counter(r.status_code for r in responses) == {200: 1, 409: 19}
    winner = next(r.json() for r in responses if r.status_code == 200)
    with server.client() as http:
        _assert_alive(http, winner)
