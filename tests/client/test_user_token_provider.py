"""``UserTokenAuth`` (spec §C): a personal user token traded for short-lived opaque access tokens. A
revoked user token is a clear ``UserTokenRevoked`` (410), an unknown one ``UnknownUserToken`` (404),
each with the server's message."""

from __future__ import annotations

import httpx
import pytest

from tests.client.helpers import user_auth
from tests.support import LiveServer
from tokensmith.client import (
    Options,
    TokensmithAdmin,
    UnknownUserToken,
    UserTokenAuth,
    UserTokenRevoked,
)


def test_a_user_token_gives_access_tokens_for_the_user(any_server: LiveServer) -> None:
    with user_auth(any_server, "owner@example.com") as signin, TokensmithAdmin(issuer=any_server.url,
                                                                                 auth=signin) as admin:
        created = admin.create_user_token("nightly export")
        with UserTokenAuth(issuer=any_server.url, user_token=created.token) as auth, \
                httpx.Client(base_url=any_server.url, auth=auth) as api:
            me = api.get("/users/me")
            assert me.status_code == 200 and me.json()["email"] == "owner@example.com"
            token = auth.get_token()
            assert token.extra["role"] == "admin" and token.extra["session_id"] == created.record["sessionId"]
            assert token.expires_at is not None and token.refresh_at == token.expires_at - 60


def test_a_revoked_user_token_raises_user_token_revoked(server: LiveServer) -> None:
    with user_auth(server, "owner@example.com") as signin, TokensmithAdmin(issuer=server.url, auth=signin) as admin:
        created = admin.create_user_token("ci")
        with UserTokenAuth(issuer=server.url, user_token=created.token) as auth, \
                httpx.Client(base_url=server.url, auth=auth) as api:
            assert api.get("/users/me").status_code == 200
            admin.revoke_user_token(created.id)
            with pytest.raises(UserTokenRevoked) as caught:  # the access token died with it: 401, then 410
                api.get("/users/me")
    assert caught.value.status == 410 and caught.value.error == "invalid_grant"
    assert "revoked" in caught.value.message


async def test_an_unknown_user_token_raises_unknown_user_token(server: LiveServer) -> None:
    auth = UserTokenAuth(issuer=server.url, user_token="not-a-user-token", options=Options())
    async with auth:
        with pytest.raises(UnknownUserToken) as caught:
            await auth.atoken()
    assert caught.value.status == 404 and caught.value.message
