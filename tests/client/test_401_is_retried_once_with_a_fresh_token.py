"""One retry with a fresh token when the API answers 401 (the upstream pattern: cache the token; on a
401 fetch a new one and try again, once). The token is revoked server-side (RFC 7009) while the SDK
still holds it; the SDK sees the 401, fetches a new token and the request succeeds — sync httpx, async
httpx and ``requests``. A 401 that is not about the token (the client itself was disabled) is returned
after one retry, not looped on."""

from __future__ import annotations

import httpx
import pytest
import requests

from tests.client.helpers import FakeClock, admin_client, live_server, make_user
from tests.support import LiveServer
from tokensmith.client import ClientCredentialsAuth, InvalidClient, Options, UserTokenAuth
from tokensmith.clock import ManualClock


def _revoke(server: LiveServer, auth: ClientCredentialsAuth, secret: str) -> None:
    token = auth.token()
    resp = httpx.post(f"{server.url}/oauth/revoke", data={"token": token}, auth=(auth.client_id, secret))
    assert resp.status_code == 200
    assert httpx.get(f"{server.url}/api-keys", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_sync_httpx_recovers_from_a_revoked_token(any_server: LiveServer) -> None:
    client_id, secret = admin_client(any_server)
    with ClientCredentialsAuth(issuer=any_server.url, client_id=client_id, client_secret=secret) as auth, \
            httpx.Client(base_url=any_server.url, auth=auth) as api:
        assert api.post("/api-keys", json={"name": "a", "scopes": ["Patient.read"]}).status_code == 201
        first = auth.token()
        _revoke(any_server, auth, secret)
        resp = api.post("/api-keys", json={"name": "b", "scopes": ["Patient.read"]})  # the body is sent again
        assert resp.status_code == 201, resp.text
        assert [r.status_code for r in resp.history] == [401] and auth.token_requests == 2
        assert auth.token() != first
        assert {k["name"] for k in api.get("/api-keys").json()} == {"a", "b"}


async def test_async_httpx_recovers_from_a_revoked_token(server: LiveServer) -> None:
    client_id, secret = admin_client(server)
    auth = ClientCredentialsAuth(issuer=server.url, client_id=client_id, client_secret=secret)
    async with auth, httpx.AsyncClient(base_url=server.url, auth=auth) as api:
        assert (await api.get("/api-keys")).status_code == 200
        _revoke(server, auth, secret)
        resp = await api.get("/api-keys")
        assert resp.status_code == 200 and auth.token_requests == 2
    auth.close()


def test_requests_recovers_from_a_revoked_token(server: LiveServer) -> None:
    client_id, secret = admin_client(server)
    with ClientCredentialsAuth(issuer=server.url, client_id=client_id, client_secret=secret) as auth, \
            requests.Session() as session:
        session.auth = auth.for_requests()
        assert session.get(f"{server.url}/api-keys", timeout=10).status_code == 200
        _revoke(server, auth, secret)
        resp = session.post(f"{server.url}/api-keys", json={"name": "c", "scopes": ["Patient.read"]}, timeout=10)
        assert resp.status_code == 201, resp.text
        assert [r.status_code for r in resp.history] == [401] and auth.token_requests == 2


def test_a_401_that_persists_is_returned_after_one_retry(server: LiveServer) -> None:
    """An API that refuses every token (a stand-in resource server; the tokens are the real service's):
    two API requests, two token requests, and the second 401 is the caller's to handle."""
    seen: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(401, json={"error": "invalid_token"})

    client_id, secret = admin_client(server)
    with ClientCredentialsAuth(issuer=server.url, client_id=client_id, client_secret=secret) as auth, \
            httpx.Client(transport=httpx.MockTransport(refuse), auth=auth) as api:
        resp = api.get("https://api.example/fhir/Patient")
    assert resp.status_code == 401 and len(seen) == 2 and seen[0] != seen[1]
    assert auth.token_requests == 2


def test_a_disabled_client_gets_invalid_client_on_the_retry(server: LiveServer) -> None:
    from tokensmith.clients import set_client_status

    client_id, secret = admin_client(server)
    with ClientCredentialsAuth(issuer=server.url, client_id=client_id, client_secret=secret) as auth, \
            httpx.Client(base_url=server.url, auth=auth) as api:
        assert api.get("/api-keys").status_code == 200
        server.call(lambda rt: set_client_status(rt, client_id, False))
        with pytest.raises(InvalidClient):  # its token stopped working (401), and no new one is issued
            api.get("/api-keys")
        assert auth.token_requests == 2


def test_retry_can_be_turned_off(server: LiveServer) -> None:
    client_id, secret = admin_client(server)
    options = Options(retry_on_401=False)
    with ClientCredentialsAuth(issuer=server.url, client_id=client_id, client_secret=secret, options=options) as auth, \
            httpx.Client(base_url=server.url, auth=auth) as api:
        assert api.get("/api-keys").status_code == 200
        _revoke(server, auth, secret)
        assert api.get("/api-keys").status_code == 401 and auth.token_requests == 1


def test_a_user_token_re_authenticates_when_its_access_token_expired_on_the_server(sqlite_url: str) -> None:
    """The Squirro pattern: the access token lives 10 minutes on the server; when the server says 401
    the SDK trades the user token for a new one and retries (here the SDK's own clock does not move:
    only the 401 tells it)."""
    server_clock = ManualClock()
    with live_server(sqlite_url, clock=server_clock) as server:
        user = make_user(server, "reader@example.com", role="admin")
        from tokensmith.people.user_tokens import create_user_token

        _, user_token = server.call(lambda rt: create_user_token(rt, user_id=user.id, tenant_id=server.tenant_id,
                                                                 name="ci", actor="test"))
        sdk_clock = FakeClock(1_000_000.0)
        with UserTokenAuth(issuer=server.url, user_token=user_token, options=Options(clock=sdk_clock)) as auth, \
                httpx.Client(base_url=server.url, auth=auth) as api:
            assert api.get("/users/me").json()["email"] == "reader@example.com"
            server_clock.advance(11 * 60)
            resp = api.get("/users/me")
            assert resp.status_code == 200 and auth.token_requests == 2
