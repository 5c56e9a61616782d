"""Clients' ``jwks_uri``: fetched over real HTTP on loopback (development mode), cached, refetched on an
unknown ``kid`` at most once per refresh interval (time moved by hand), refused when too large, and never
fetched from a private, loopback or link-local address outside development."""

from __future__ import annotations

import asyncio

import pytest

from tests.apikeys.helpers import audit_events
from tests.smart.conftest import JwksServer
from tests.smart.helpers import KeyPair, backend_token
from tests.support import TEST_MASTER_KEY, LiveServer, make_settings
from tokensmith.clock import ManualClock
from tokensmith.errors import ValidationFailed
from tokensmith.smart import jwks as jwks_module
from tokensmith.smart.apps import AppSpec, validate
from tokensmith.smart.jwks import JwksError, JwksFetcher, check_jwks_url


def _backend(server: LiveServer, url: str) -> str:
    record, _ = server.create_client(name="b", scopes=["system/*.rs"], kind="smart", jwks_uri=url,
                                     auth_method="private_key_jwt", access_token_ttl=300)
    return record.client_id


def test_keys_are_fetched_cached_and_refetched_for_a_new_kid(sqlite_url: str, jwks_server: JwksServer) -> None:
    clock = ManualClock()
    old, new = KeyPair(), KeyPair()
    jwks_server.publish(old.jwks())
    with LiveServer(make_settings(sqlite_url), clock=clock) as server, server.client() as http:
        client_id = _backend(server, jwks_server.url)
        aud = server.settings.issuer + "/oauth/token"
        for _ in range(3):
            assert backend_token(http, client_id, old.assertion(client_id, aud)).status_code == 200
        assert jwks_server.requests == 1  # cached
        jwks_server.publish({"keys": [old.public, new.public]})  # the client rotates
        assert backend_token(http, client_id, new.assertion(client_id, aud)).status_code == 401
        assert jwks_server.requests == 1  # fetched a moment ago: not again yet
        clock.advance(server.settings.client_jwks_refresh_interval + 1)
        assert backend_token(http, client_id, new.assertion(client_id, aud)).status_code == 200
        assert jwks_server.requests == 2  # the unknown kid refetched the set (before the cache expired)
        assert backend_token(http, client_id, KeyPair().assertion(client_id, aud)).status_code == 401
        assert backend_token(http, client_id, KeyPair().assertion(client_id, aud)).status_code == 401
        assert jwks_server.requests == 2  # invented kids do not make us fetch in a loop
        clock.advance(server.settings.client_jwks_refresh_interval + 1)
        assert backend_token(http, client_id, KeyPair().assertion(client_id, aud)).status_code == 401
        assert jwks_server.requests == 3


def test_an_oversize_jwks_is_refused(sqlite_url: str, jwks_server: JwksServer) -> None:
    key = KeyPair()
    jwks_server.publish({"keys": [key.public], "padding": "x" * 5000})
    with LiveServer(make_settings(sqlite_url, client_jwks_max_bytes=4096)) as server, server.client() as http:
        client_id = _backend(server, jwks_server.url)
        resp = backend_token(http, client_id, key.assertion(client_id, server.settings.issuer + "/oauth/token"))
        assert resp.status_code == 401 and resp.json()["error"] == "invalid_client"
        reasons = [e["data"]["reason"] for e in audit_events(server, "client.auth_failed")]
        assert reasons == ["client JWK Set unusable: the JWK Set is larger than 4096 bytes"]


def test_a_jwks_with_private_keys_is_refused_when_fetched(sqlite_url: str, jwks_server: JwksServer) -> None:
    key = KeyPair()
    jwks_server.publish({"keys": [key.private]})
    with LiveServer(make_settings(sqlite_url)) as server, server.client() as http:
        client_id = _backend(server, jwks_server.url)
        resp = backend_token(http, client_id, key.assertion(client_id, server.settings.issuer + "/oauth/token"))
        assert resp.status_code == 401


def test_outside_development_a_loopback_jwks_url_is_never_fetched(sqlite_url: str, jwks_server: JwksServer) -> None:
    key = KeyPair()
    jwks_server.publish(key.jwks())
    settings = make_settings(sqlite_url, env="production", issuer="https://tokensmith.test",
                             master_key=TEST_MASTER_KEY)
    with LiveServer(settings) as server, server.client() as http:
        client_id = _backend(server, jwks_server.url.replace("http://", "https://"))
        resp = backend_token(http, client_id, key.assertion(client_id, "https://tokensmith.test/oauth/token"))
        assert resp.status_code == 401
        reasons = [e["data"]["reason"] for e in audit_events(server, "client.auth_failed")]
        assert reasons == ["client JWK Set unusable: jwksUri must not point to a private, loopback or link-local "
                           "address"]
    assert jwks_server.requests == 0


@pytest.mark.parametrize("url", ["https://10.1.2.3/jwks.json", "https://192.168.0.10/jwks", "https://127.0.0.1/k",
                                 "https://[::1]/k", "https://169.254.169.254/latest", "https://[fe80::1]/k",
                                 "https://localhost/jwks", "https://keys.internal/jwks", "http://keys.example.com/k",
                                 "https://user:pw@keys.example.com/k", "ftp://keys.example.com/k"])
def test_private_addresses_and_plain_http_are_refused_outside_development(url: str) -> None:
    with pytest.raises(JwksError):
        check_jwks_url(url, development=False)
    with pytest.raises(ValidationFailed):
        validate(AppSpec(name="b", redirect_uris=[], scopes=["system/*.rs"], is_confidential=True, jwks_uri=url),
                 development=False)


def test_a_host_that_resolves_to_loopback_is_refused_before_connecting() -> None:
    async def attempt() -> None:
        fetcher = JwksFetcher(ManualClock(), timeout=2, max_bytes=1000, cache_ttl=60, refresh_interval=1,
                              development=False)
        await jwks_module._resolve_public("localhost", 443)  # the check fetch() runs for a host name
        await fetcher.fetch("https://localhost/jwks")

    with pytest.raises(JwksError, match=r"resolves to|must not point"):
        asyncio.run(attempt())


def test_a_public_address_passes_the_check() -> None:
    assert check_jwks_url("https://8.8.8.8/jwks", development=False) == "8.8.8.8"
    assert check_jwks_url("https://keys.example.com/jwks", development=False) == "keys.example.com"
