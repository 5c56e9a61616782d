"""Single flight: any number of concurrent callers holding no token, or an expired one, cause exactly one
token request — threads through the sync flow, tasks through the async one. Counted on the wire (a
counting transport in front of the real server) and by the SDK."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.client.helpers import AsyncCountingTransport, CountingTransport, FakeClock, admin_client
from tests.support import LiveServer
from tokensmith.client import ClientCredentialsAuth, Options

THREADS = 64
TASKS = 500


def _auth(server: LiveServer, options: Options) -> ClientCredentialsAuth:
    client_id, secret = admin_client(server, access_token_ttl=600)
    return ClientCredentialsAuth(issuer=server.url, client_id=client_id, client_secret=secret,
                                 token_url=f"{server.url}/oauth/token", options=options)


def test_threads_share_one_token_request_at_start_and_after_expiry(server: LiveServer) -> None:
    counted, clock = CountingTransport(), FakeClock(time.time())
    with _auth(server, Options(transport=counted, clock=clock)) as auth:
        start = threading.Barrier(THREADS)

        def call(_: int) -> str:
            start.wait()
            return auth.token()

        with ThreadPoolExecutor(THREADS) as pool:
            first = set(pool.map(call, range(THREADS)))
            assert len(first) == 1 and counted.paths["/oauth/token"] == 1
            clock.advance(600)  # expired
            second = set(pool.map(call, range(THREADS)))
        assert len(second) == 1 and second != first
        assert counted.paths["/oauth/token"] == 2 and auth.token_requests == 2


def test_threads_calling_the_api_share_one_token_request(server: LiveServer) -> None:
    counted = CountingTransport()
    with _auth(server, Options(transport=counted)) as auth, \
            httpx.Client(base_url=server.url, auth=auth, limits=httpx.Limits(max_connections=16)) as api:
        start = threading.Barrier(16)

        def call(_: int) -> int:
            start.wait()
            return api.get("/api-keys").status_code

        with ThreadPoolExecutor(16) as pool:
            assert set(pool.map(call, range(16))) == {200}
    assert counted.paths["/oauth/token"] == 1


async def test_tasks_share_one_token_request_at_start_and_after_expiry(server: LiveServer) -> None:
    counted, clock = AsyncCountingTransport(), FakeClock(time.time())
    auth = _auth(server, Options(async_transport=counted, clock=clock))
    async with auth:
        first = set(await asyncio.gather(*(auth.atoken() for _ in range(TASKS))))
        assert len(first) == 1 and counted.paths["/oauth/token"] == 1
        clock.advance(600)
        second = set(await asyncio.gather(*(auth.atoken() for _ in range(TASKS))))
        assert len(second) == 1 and second != first and counted.paths["/oauth/token"] == 2
        async with httpx.AsyncClient(base_url=server.url, auth=auth) as api:
            clock.advance(600)
            statuses = await asyncio.gather(*(api.get("/api-keys") for _ in range(20)))
        assert {r.status_code for r in statuses} == {200} and counted.paths["/oauth/token"] == 3
