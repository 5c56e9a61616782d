"""``ClientCredentialsAuth`` end to end against the real service on loopback: the token endpoint found
through discovery (or given), the token cached and sent as ``Bearer`` on sync and async httpx clients,
and the token endpoint's refusals as typed errors carrying the server's message."""

from __future__ import annotations

import httpx
import pytest

from tests.client.helpers import CountingTransport, admin_client
from tests.support import LiveServer
from tokensmith.client import ClientCredentialsAuth, InvalidClient, InvalidScope, Options


def test_the_token_endpoint_is_discovered_and_the_token_reused(any_server: LiveServer) -> None:
    client_id, secret = admin_client(any_server)
    counted = CountingTransport()
    auth = ClientCredentialsAuth(issuer=any_server.url, client_id=client_id, client_secret=secret,
                                 options=Options(transport=counted))
    with auth, httpx.Client(base_url=any_server.url, auth=auth) as api:
        statuses = [api.get("/api-keys").status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    assert counted.paths == {"/.well-known/oauth-authorization-server": 1, "/oauth/token": 1}
    assert auth.token_url == f"{any_server.url}/oauth/token"
    assert auth.get_token().extra["token_type"] == "Bearer"


async def test_the_async_flow_uses_the_same_cache(server: LiveServer) -> None:
    client_id, secret = admin_client(server)
    auth = ClientCredentialsAuth(issuer=server.url, client_id=client_id, client_secret=secret,
                                 token_url=f"{server.url}/identity-server/connect/token", scope="ApiKey.read")
    async with httpx.AsyncClient(base_url=server.url, auth=auth) as api:
        first = await api.get("/api-keys")
        second = await api.get("/api-keys")
    with auth, httpx.Client(base_url=server.url, auth=auth) as api:
        third = api.get("/api-keys")
    assert (first.status_code, second.status_code, third.status_code) == (200, 200, 200)
    assert auth.token_requests == 1
    assert auth.get_token().extra["scope"] == "ApiKey.read"
    await auth.aclose()


def test_a_wrong_secret_is_invalid_client_with_the_servers_message(server: LiveServer) -> None:
    client_id, _ = admin_client(server)
    auth = ClientCredentialsAuth(issuer=server.url, client_id=client_id, client_secret="not-the-secret")
    with auth, pytest.raises(InvalidClient) as caught:
        auth.token()
    assert caught.value.status == 401 and caught.value.error == "invalid_client"
    assert caught.value.message  # the server's error_description
    with auth, httpx.Client(base_url=server.url, auth=auth) as api, pytest.raises(InvalidClient):
        api.get("/api-keys")


def test_a_scope_beyond_the_client_is_invalid_scope(server: LiveServer) -> None:
    client_id, secret = admin_client(server, ["Patient.read"])
    auth = ClientCredentialsAuth(issuer=server.url, client_id=client_id, client_secret=secret, scope=["Secret.write"])
    with auth, pytest.raises(InvalidScope) as caught:
        auth.token()
    assert caught.value.status == 400 and caught.value.error == "invalid_scope"


def test_exactly_one_of_secret_and_private_key_is_required() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        ClientCredentialsAuth(issuer="http://127.0.0.1:1", client_id="c")
    with pytest.raises(ValueError, match="issuer"):
        ClientCredentialsAuth(issuer="ftp://x", client_id="c", client_secret="s")
