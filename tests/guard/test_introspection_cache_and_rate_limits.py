"""Introspection at the guard: concurrent requests with one uncached credential send one introspection; an
inactive answer is cached briefly too; an API key over its rate limit is a 429 with ``Retry-After`` and is
not cached."""

from __future__ import annotations

import asyncio

import pytest

from tests.guard.helpers import cc_token, guard_settings, make_api_key, resource_server_client
from tests.support import LiveServer
from tokensmith.errors import InvalidToken, RateLimited
from tokensmith.guard import Guard


async def test_concurrent_misses_send_one_introspection(service: LiveServer) -> None:
    opaque = cc_token(service, ["Patient.read"], fmt="opaque")
    async with Guard(guard_settings(service, resource_server_client(service))) as guard:
        assert guard.introspection is not None
        principals = await asyncio.gather(*(guard.authenticate(f"Bearer {opaque}", None) for _ in range(50)))
        assert {p.credential for p in principals} == {"opaque"}
        assert guard.introspection.requests == 1


async def test_an_inactive_answer_is_cached_for_the_negative_ttl(service: LiveServer) -> None:
    async with Guard(guard_settings(service, resource_server_client(service), negative_ttl=30)) as guard:
        assert guard.introspection is not None
        for _ in range(5):
            with pytest.raises(InvalidToken):
                await guard.authenticate("Bearer no-such-opaque-token", None)
        assert guard.introspection.requests == 1


async def test_an_api_key_over_its_limit_is_a_429(service: LiveServer) -> None:
    _, key = make_api_key(service, ["Patient.read"], rate_limit=1)
    async with Guard(guard_settings(service, resource_server_client(service), introspection_ttl=0)) as guard:
        assert (await guard.authenticate(None, key)).credential == "api_key"
        with pytest.raises(RateLimited) as limited:
            await guard.authenticate(None, key)
        assert limited.value.status == 429 and int(limited.value.headers["Retry-After"]) >= 1
        assert guard.introspection is not None and not guard.introspection.cache
