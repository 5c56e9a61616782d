"""A token request that dies on the network (the server closed a kept-alive connection as the request
went out) is sent once more at once; a second failure reaches the caller as httpx's own error."""

from __future__ import annotations

import httpx
import pytest

from tests.client.helpers import admin_client
from tests.support import LiveServer
from tokensmith.client import ClientCredentialsAuth, Options


class Flaky(httpx.BaseTransport):
    def __init__(self, failures: int) -> None:
        self.inner, self.failures, self.calls = httpx.HTTPTransport(), failures, 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.failures:
            self.failures -= 1
            raise httpx.ReadError("Connection reset by peer", request=request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def test_one_glitch_is_retried(server: LiveServer) -> None:
    client_id, secret = admin_client(server)
    flaky = Flaky(1)
    with ClientCredentialsAuth(issuer=server.url, client_id=client_id, client_secret=secret,
                               token_url=f"{server.url}/oauth/token", options=Options(transport=flaky)) as auth:
        assert auth.token() and flaky.calls == 2


def test_two_glitches_reach_the_caller(server: LiveServer) -> None:
    client_id, secret = admin_client(server)
    flaky = Flaky(2)
    with ClientCredentialsAuth(issuer=server.url, client_id=client_id, client_secret=secret,
                               token_url=f"{server.url}/oauth/token", options=Options(transport=flaky)) as auth, \
            pytest.raises(httpx.ReadError):
        auth.token()
    assert flaky.calls == 2
