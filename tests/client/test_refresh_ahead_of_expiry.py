"""Refresh ahead of expiry, with the SDK's clock injected (no sleeping): a token is used until 60 s or
10 % of its lifetime before it expires, whichever is shorter, and then replaced on the next request."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.client.helpers import FakeClock, admin_client, user_auth
from tests.support import LiveServer
from tokensmith.client import ClientCredentialsAuth, Options


@pytest.mark.parametrize(("lifetime", "margin"), [(2_592_000, 60), (600, 60), (300, 30), (60, 6), (0, 0)])
def test_the_margin_is_60_s_or_a_tenth_of_the_lifetime(lifetime: float, margin: float) -> None:
    assert Options().margin(lifetime) == margin


@pytest.mark.parametrize(("lifetime", "margin"), [(300, 30), (3600, 60)])
def test_a_client_credentials_token_is_replaced_at_its_refresh_point(server: LiveServer, lifetime: int,
                                                                     margin: int) -> None:
    client_id, secret = admin_client(server, access_token_ttl=lifetime)
    clock = FakeClock(time.time())
    with ClientCredentialsAuth(issuer=server.url, client_id=client_id, client_secret=secret,
                               options=Options(clock=clock)) as auth, \
            httpx.Client(base_url=server.url, auth=auth) as api:
        assert api.get("/api-keys").status_code == 200
        first = auth.token()
        clock.advance(lifetime - margin - 1)
        assert api.get("/api-keys").status_code == 200 and auth.token() == first and auth.token_requests == 1
        clock.advance(2)
        assert api.get("/api-keys").status_code == 200
        assert auth.token() != first and auth.token_requests == 2


def test_sign_in_tokens_are_refreshed_with_the_rotating_refresh_token(server: LiveServer) -> None:
    """900 s access tokens: at 841 s the SDK calls /auth/refresh (not /auth/login) and keeps the session."""
    clock = FakeClock(time.time())
    with user_auth(server, "admin@example.com", options=Options(clock=clock)) as auth, \
            httpx.Client(base_url=server.url, auth=auth) as api:
        assert api.get("/users/me").status_code == 200
        first_refresh = auth._refresh_token
        clock.advance(841)
        assert api.get("/users/me").status_code == 200
        assert auth.token_requests == 2 and auth._refresh_token != first_refresh
        sessions = [s for s in api.get("/sessions").json() if s["kind"] == "login"]
        assert len(sessions) == 1  # refreshed, not signed in again
