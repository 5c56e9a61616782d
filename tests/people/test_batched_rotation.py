"""Concurrent refreshes in one process rotate together (one batch: one claiming UPDATE, one INSERT, one
transaction, the same on SQLite and PostgreSQL). Each caller must still get exactly its own session's new
pair, a token presented twice in one batch is claimed once, and a reused token in a batch still revokes
its session without disturbing the others."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from tests.people.helpers import make_user, tokens
from tests.support import LiveServer
from tokensmith.errors import MessageError
from tokensmith.people.login import Context
from tokensmith.people.refresh import rotate_refresh_token
from tokensmith.runtime import Runtime

SESSIONS = 12


def _sign_in(server: LiveServer, n: int) -> list[dict[str, Any]]:
    with server.client() as http:
        out = []
        for i in range(n):
            make_user(server, f"batch{i}@example.com")
            out.append(tokens(http, f"batch{i}@example.com"))
        return out


def _batch_sizes(rt: Runtime) -> list[int]:
    """Record the size of every batch the refresh batcher runs (the batching is what is under test)."""
    sizes: list[int] = []
    run = rt.refresh_batcher._run

    async def counted(items: list[Any]) -> list[Any]:
        sizes.append(len(items))
        return await run(items)

    rt.refresh_batcher._run = counted  # type: ignore[method-assign]
    return sizes


async def _rotate_all(rt: Runtime, presented: list[str]) -> list[Any]:
    return list(await asyncio.gather(*(rotate_refresh_token(rt, t, Context()) for t in presented),
                                     return_exceptions=True))


def _refresh(http: httpx.Client, token: str) -> httpx.Response:
    return http.post("/auth/refresh", json={"refreshToken": token})


def test_a_batch_of_refreshes_gives_each_caller_its_own_pair(any_server: LiveServer) -> None:
    signed_in = _sign_in(any_server, SESSIONS)
    sizes = _batch_sizes(any_server.runtime)
    twice = signed_in[0]["refreshToken"]
    presented = [s["refreshToken"] for s in signed_in] + [twice, twice]
    results = any_server.call(lambda rt: _rotate_all(rt, presented))
    assert max(sizes) > 2, sizes  # they were rotated together
    rotated = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    # one rotation per session; the token presented three times won once, its copies lost as a race
    assert len(rotated) == SESSIONS
    assert all(isinstance(r, MessageError) and r.status == 409 for r in refused) and len(refused) == 2
    by_token = dict(zip(presented, results, strict=True))
    with any_server.client() as http:
        for session in signed_in[1:]:
            facts, new_value = by_token[session["refreshToken"]]
            me = http.get("/users/me", headers={"Authorization": f"Bearer {session['accessToken']}"}).json()
            assert facts.user_id == me["id"]  # its own user's session, no one else's
            resp = _refresh(http, new_value)  # and its own successor works
            assert resp.status_code == 200, resp.text
    assert len({r[1] for r in rotated}) == SESSIONS
    assert len({r[0].session_id for r in rotated}) == SESSIONS


def test_a_reused_token_in_a_batch_revokes_only_its_session(any_server_with: Callable[..., LiveServer]) -> None:
    server = any_server_with(refresh_reuse_grace=0, refresh_retry_window=0)
    signed_in = _sign_in(server, SESSIONS)
    with server.client() as http:
        stolen = signed_in[0]["refreshToken"]
        latest = _refresh(http, stolen).json()["refreshToken"]  # the thief's copy is now a used token
    sizes = _batch_sizes(server.runtime)
    presented = [stolen] + [s["refreshToken"] for s in signed_in[1:]]
    results = server.call(lambda rt: _rotate_all(rt, presented))
    assert max(sizes) > 2, sizes
    assert isinstance(results[0], MessageError) and results[0].status == 401
    assert all(not isinstance(r, BaseException) for r in results[1:]), results
    with server.client() as http:
        assert _refresh(http, latest).status_code == 401  # reuse ended the whole session
        for _facts, new_value in results[1:]:
            assert _refresh(http, new_value).status_code == 200  # the others live on


def test_a_token_presented_for_another_client_in_a_batch_is_refused_and_stays_unused(any_server: LiveServer) -> None:
    """A batch holds tokens of several kinds of session and clients (sign-in and code-flow refreshes share
    the batcher): each is claimed only under its own kind and client, so a sign-in token presented as a
    code-flow client's is refused without being used up, while the rest of its batch rotates."""
    signed_in = _sign_in(any_server, SESSIONS)
    sizes = _batch_sizes(any_server.runtime)
    misplaced = signed_in[0]["refreshToken"]

    async def rotate(rt: Runtime) -> list[Any]:
        calls = [rotate_refresh_token(rt, s["refreshToken"], Context()) for s in signed_in[1:]]
        calls.append(rotate_refresh_token(rt, misplaced, Context(), session_kind="oauth", client_id="some-client"))
        return list(await asyncio.gather(*calls, return_exceptions=True))

    results = any_server.call(rotate)
    assert max(sizes) > 2, sizes
    assert all(not isinstance(r, BaseException) for r in results[:-1]), results
    assert isinstance(results[-1], MessageError) and results[-1].status == 401
    with any_server.client() as http:
        assert _refresh(http, misplaced).status_code == 200  # still unused: it works where it belongs
