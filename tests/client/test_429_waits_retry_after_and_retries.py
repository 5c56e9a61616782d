"""A 429 from the token endpoint is waited out — the server's ``retry_after`` (body) / ``Retry-After``
(header), within ``max_rate_limit_wait`` — and the token request retried. The server is real: an API key
with ``rateLimit: 1`` per minute. The SDK's sleep is injected: while the SDK "waits", the test raises the
key's limit (what the passing minute would have done), so the retry succeeds without a minute of sleeping."""

from __future__ import annotations

import pytest

from tests.client.helpers import USER, admin_auth, create_api_key
from tests.support import LiveServer
from tokensmith.client import ExchangeUser, Options, RateLimited, SessionExchangeAuth, TokensmithAdmin

FIRST = ExchangeUser(**USER)
SECOND = ExchangeUser(**{**USER, "user_id": "doctor456"})


def _key_id(admin: TokensmithAdmin, api_key: str) -> str:
    client_id = api_key.split(":")[0]
    return next(k["id"] for k in admin.list_api_keys() if k["clientId"] == client_id)


def test_the_sdk_waits_the_servers_retry_after_then_succeeds(server: LiveServer) -> None:
    api_key = create_api_key(server, rateLimit=1)
    waits: list[float] = []
    with admin_auth(server) as auth, TokensmithAdmin(issuer=server.url, auth=auth) as admin:
        key_id = _key_id(admin, api_key)

        def sleep(seconds: float) -> None:
            waits.append(seconds)
            admin.update_api_key(key_id, rate_limit=100)  # the window "passed"

        exchange = SessionExchangeAuth(issuer=server.url, api_key=api_key, options=Options(sleep=sleep))
        with exchange:
            assert exchange.token_for(FIRST)
            assert exchange.token_for(SECOND)  # 429 first, then the retry
    assert len(waits) == 1 and 1 <= waits[0] <= 60  # the server's retry_after: the rest of the minute


async def test_the_async_sdk_waits_too(server: LiveServer) -> None:
    api_key = create_api_key(server, rateLimit=1)
    waits: list[float] = []
    with admin_auth(server) as auth, TokensmithAdmin(issuer=server.url, auth=auth) as admin:
        key_id = _key_id(admin, api_key)

        async def sleep(seconds: float) -> None:
            waits.append(seconds)
            admin.update_api_key(key_id, rate_limit=100)

        exchange = SessionExchangeAuth(issuer=server.url, api_key=api_key, options=Options(async_sleep=sleep))
        async with exchange:
            assert await exchange.atoken_for(FIRST)
            assert await exchange.atoken_for(SECOND)
    assert len(waits) == 1 and waits[0] >= 1


def test_a_wait_longer_than_allowed_raises_rate_limited_at_once(server: LiveServer) -> None:
    api_key = create_api_key(server, rateLimit=1)
    waits: list[float] = []
    options = Options(sleep=waits.append, max_rate_limit_wait=0.5)
    with SessionExchangeAuth(issuer=server.url, api_key=api_key, options=options) as exchange:
        exchange.token_for(FIRST)
        with pytest.raises(RateLimited) as caught:
            exchange.token_for(SECOND)
    assert waits == []
    assert caught.value.status == 429 and caught.value.message == "Rate limit exceeded"
    assert caught.value.retry_after is not None and caught.value.retry_after >= 1


def test_still_limited_after_the_allowed_retries_raises_rate_limited(server: LiveServer) -> None:
    api_key = create_api_key(server, rateLimit=1)
    waits: list[float] = []
    options = Options(sleep=waits.append, rate_limit_retries=2)
    with SessionExchangeAuth(issuer=server.url, api_key=api_key, options=options) as exchange:
        exchange.token_for(FIRST)
        with pytest.raises(RateLimited):
            exchange.token_for(SECOND)
    assert len(waits) == 2  # waited twice, then gave up
