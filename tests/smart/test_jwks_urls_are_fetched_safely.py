"""Clients' ``jwks_uri``: fetched over real HTTP on loopback (development mode), cached, refetched on an
unknown ``kid`` at most once per refresh interval (time moved by hand), refused when too large, and never
fetched from a private, loopback or link-local address outside development."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import update

from tests.apikeys.helpers import audit_events
from tests.smart.conftest import JwksServer
from tests.smart.helpers import KeyPair, backend_token
from tests.support import TEST_MASTER_KEY, LiveServer, make_settings
from tokensmith.clock import ManualClock
from tokensmith.errors import InvalidRequest, ValidationFailed
from tokensmith.runtime import Runtime
from tokensmith.smart import jwks as jwks_module
from tokensmith.smart.apps import AppSpec, validate
from tokensmith.smart.jwks import JwksError, JwksFetcher, check_jwks_url
from tokensmith.storage.models import OAuthClient


def _backend(server: LiveServer, url: str) -> str:
    record, _ = server.create_client(name="b", scopes=["system/*.rs"], kind="smart", jwks_uri=url,
                                     auth_method="private_key_jwt", access_token_ttl=300)
    return record.client_id


async def _store_jwks_uri(rt: Runtime, client_id: str, url: str) -> None:
    async with rt.db.session() as session:
        await session.execute(update(OAuthClient).where(OAuthClient.client_id == client_id).values(jwks_uri=url))
    rt.clients.invalidate(client_id)


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
    loopback = jwks_server.url.replace("http://", "https://")
    with LiveServer(settings) as server, server.client() as http:
        with pytest.raises(InvalidRequest, match="private, loopback or link-local"):
            _backend(server, loopback)  # refused when it is registered
        # one stored earlier (registered in development, or before the rule) is refused when it is fetched
        client_id = _backend(server, "https://keys.example.com/jwks.json")
        server.call(lambda rt: _store_jwks_uri(rt, client_id, loopback))
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
        await fetcher.fetch("https://localhost/jwks")

    with pytest.raises(JwksError, match=r"resolves to|must not point"):
        asyncio.run(attempt())


class Rebinding:
    """A resolver whose answer changes after the first question (a DNS rebinding attack)."""

    def __init__(self, first: list[str], then: list[str]) -> None:
        self.answers, self.questions = [first, then], 0

    async def __call__(self, host: str, port: int) -> list[str]:
        self.questions += 1
        return self.answers[min(self.questions - 1, 1)]


def _fetcher(clock: ManualClock, resolver: Rebinding, *, allow_internal: bool, **kw: float) -> JwksFetcher:
    return JwksFetcher(clock, timeout=2, max_bytes=10000, cache_ttl=kw.get("ttl", 60),
                       refresh_interval=kw.get("interval", 10), stale_ttl=kw.get("stale", 100),
                       development=True, allow_internal=allow_internal, resolver=resolver)


def test_the_fetch_connects_to_the_address_checked_with_the_original_host(jwks_server: JwksServer) -> None:
    key = KeyPair()
    jwks_server.publish(key.jwks())
    port = jwks_server.url.split(":")[2].split("/")[0]
    resolver = Rebinding(["127.0.0.1"], ["169.254.169.254"])
    fetcher = _fetcher(ManualClock(), resolver, allow_internal=True)
    keys = asyncio.run(fetcher.fetch(f"http://keys.rebinding.test:{port}/jwks.json"))
    assert list(keys) == [key.kid]
    assert resolver.questions == 1  # resolved once: the connection went to that answer
    assert jwks_server.hosts == [f"keys.rebinding.test:{port}"]


@pytest.mark.parametrize("answer", [["127.0.0.1"], ["93.184.215.14", "10.0.0.7"], ["::ffff:127.0.0.1"]])
def test_a_name_resolving_to_an_internal_address_is_refused_unless_allowed(jwks_server: JwksServer,
                                                                           answer: list[str]) -> None:
    port = jwks_server.url.split(":")[2].split("/")[0]
    fetcher = _fetcher(ManualClock(), Rebinding(answer, answer), allow_internal=False)
    with pytest.raises(JwksError, match="resolves to a private"):
        asyncio.run(fetcher.fetch(f"http://keys.example.test:{port}/jwks.json"))
    assert jwks_server.requests == 0


def test_https_sends_the_host_name_as_sni_and_keeps_it_in_the_host_header() -> None:
    target, headers, extensions = jwks_module.pinned_request("https://keys.example.com:8443/a/jwks?x=1",
                                                             "2001:db8::5")
    assert target == "https://[2001:db8::5]:8443/a/jwks?x=1"
    assert headers["Host"] == "keys.example.com:8443"
    assert extensions == {"sni_hostname": "keys.example.com"}


@pytest.mark.parametrize("failure", ["status", "json", "down"])
def test_a_failed_refetch_keeps_the_last_good_set_for_a_bounded_time(
        jwks_server: JwksServer, failure: str, caplog: pytest.LogCaptureFixture) -> None:
    key = KeyPair()
    jwks_server.publish(key.jwks())
    clock = ManualClock()
    fetcher = _fetcher(clock, Rebinding(["127.0.0.1"], ["127.0.0.1"]), allow_internal=True,
                       ttl=60, interval=10, stale=100)

    async def run() -> None:
        assert await fetcher.key(jwks_server.url, key.kid) is not None
        clock.advance(61)  # the cache has expired; the key server now fails
        if failure == "status":
            jwks_server.status = 503
        elif failure == "json":
            jwks_server.document = b"<html>maintenance</html>"
        else:
            jwks_server.close()
        with caplog.at_level("WARNING", logger="tokensmith.smart.jwks"):
            assert await fetcher.key(jwks_server.url, key.kid) is not None  # the stale set, logged
        assert [r.getMessage() for r in caplog.records] == ["jwks refetch failed, using the last good set"]
        assert await fetcher.key(jwks_server.url, "invented") is None
        clock.advance(11)
        assert await fetcher.key(jwks_server.url, key.kid) is not None  # retried, still failing
        clock.advance(95)  # 60 + 100 s after the good fetch: the stale set is too old
        with pytest.raises(JwksError):
            await fetcher.key(jwks_server.url, key.kid)

    asyncio.run(run())
    if failure != "down":
        assert jwks_server.requests == 4  # good, failed, failed after the interval, failed once too old


def test_a_failing_url_is_not_refetched_for_every_request(jwks_server: JwksServer) -> None:
    jwks_server.status = 500
    clock = ManualClock()
    fetcher = _fetcher(clock, Rebinding(["127.0.0.1"], ["127.0.0.1"]), allow_internal=True, interval=10)

    async def run() -> None:
        for kid in ("a", "b", "c", "d"):
            with pytest.raises(JwksError, match="answered 500"):
                await fetcher.key(jwks_server.url, kid)
        assert jwks_server.requests == 1
        clock.advance(11)
        with pytest.raises(JwksError):
            await fetcher.key(jwks_server.url, "e")
        assert jwks_server.requests == 2

    asyncio.run(run())


def test_a_public_address_passes_the_check() -> None:
    assert check_jwks_url("https://8.8.8.8/jwks", development=False) == "8.8.8.8"
    assert check_jwks_url("https://keys.example.com/jwks", development=False) == "keys.example.com"
