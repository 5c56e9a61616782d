"""SMART Backend Services: ``client_credentials`` with a ``private_key_jwt`` assertion (RFC 7523), over
HTTP on loopback — ES384 and RS384, tokens of at most 300 s without refresh tokens, and every refusal the
issue lists: replay, an unregistered key, HS256 and ``none``, expired or too-far ``exp``, a wrong ``aud``."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.apikeys.helpers import audit_events
from tests.smart.helpers import ASSERTION_TYPE, KeyPair, admin_headers, backend_token, hs256_assertion, none_assertion
from tests.support import LiveServer, make_settings


def _register(server: LiveServer, http: httpx.Client, key: KeyPair, **extra: Any) -> str:
    body = {"name": "export", "scopes": ["system/*.rs", "system/Observation.c"], "jwks": key.jwks(), **extra}
    resp = http.post("/smart/apps", json=body, headers=admin_headers(server, http))
    assert resp.status_code == 201, resp.text
    client_id: str = resp.json()["clientId"]
    return client_id


def _aud(server: LiveServer) -> str:
    return server.settings.issuer + "/oauth/token"


@pytest.mark.parametrize("alg", ["ES384", "RS384"])
def test_backend_service_gets_a_short_token_without_refresh(any_server: LiveServer, alg: str) -> None:
    key = KeyPair(alg)
    with any_server.client() as http:
        client_id = _register(any_server, http, key)
        resp = backend_token(http, client_id, key.assertion(client_id, _aud(any_server)), scope="system/Patient.rs")
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["token_type"] == "Bearer" and 0 < body["expires_in"] <= 300
        assert body["scope"] == "system/Patient.rs" and "refresh_token" not in body
        assert resp.headers["cache-control"] == "no-store"
        beyond = backend_token(http, client_id, key.assertion(client_id, _aud(any_server)), scope="system/Patient.u")
        assert beyond.status_code == 400 and beyond.json()["error"] == "invalid_scope"


def test_every_alias_of_the_token_endpoint_is_an_accepted_audience(server: LiveServer) -> None:
    key = KeyPair()
    with server.client() as http:
        client_id = _register(server, http, key)
        for path in ("/oauth/token", "/identity-server/connect/token", "/smart/token"):
            aud = server.settings.issuer + path
            resp = backend_token(http, client_id, key.assertion(client_id, aud))
            assert resp.status_code == 200, (path, resp.text)
        listed = backend_token(http, client_id, key.assertion(client_id, ["https://other.example", _aud(server)]))
        assert listed.status_code == 200


def test_refusals_are_invalid_client_with_the_reason_in_the_audit_only(sqlite_url: str) -> None:
    key, stranger = KeyPair(), KeyPair()
    with LiveServer(make_settings(sqlite_url, client_auth_failures_per_minute=100)) as server, \
            server.client() as http:
        client_id = _register(server, http, key)
        aud = _aud(server)
        used = key.assertion(client_id, aud)
        assert backend_token(http, client_id, used).status_code == 200
        cases = {
            "assertion jti replayed": used,
            "assertion signed by an unregistered key": stranger.assertion(client_id, aud),
            "assertion signature invalid": stranger.assertion(client_id, aud, kid=key.kid),
            "assertion algorithm 'HS256' not allowed": hs256_assertion(client_id, aud, "s" * 48, key.kid),
            "assertion algorithm 'none' not allowed": none_assertion(client_id, aud, key.kid),
            "assertion expired": key.assertion(client_id, aud, now=time.time() - 400, exp_in=300),
            "assertion exp too far ahead": key.assertion(client_id, aud, exp_in=900),
            "assertion has no exp": key.assertion(client_id, aud, exp=None),
            "assertion aud is not this token endpoint": key.assertion(client_id, "https://elsewhere.example/token"),
            "assertion iss and sub must be the client_id": key.assertion(client_id, aud, iss="someone-else"),
            "assertion has no usable jti": key.assertion(client_id, aud, jti=""),
            "assertion header has a crit parameter": key.with_header(key.assertion(client_id, aud),
                                                                     crit=["b64"], b64=True),
        }
        for reason, assertion in cases.items():
            resp = backend_token(http, client_id, assertion)
            assert resp.status_code == 401, (reason, resp.text)
            assert resp.json()["error"] == "invalid_client" and reason not in resp.text
        # the header and claims of one assertion with the signature of another: the signature is checked
        # over the bytes that were parsed, so neither half of a genuine assertion can be reused
        one, other = key.assertion(client_id, aud), key.assertion(client_id, aud)
        spliced = one.rpartition(".")[0] + "." + other.rpartition(".")[2]
        assert backend_token(http, client_id, spliced).status_code == 401
        assert backend_token(http, client_id, key.with_header(one)).status_code == 200  # the helper's own check
        unknown_crit = key.with_header(other, crit=["urn:example:x"], **{"urn:example:x": 1})
        assert backend_token(http, client_id, unknown_crit).status_code == 401  # PyJWT refuses it unparsed
        reasons = [e["data"]["reason"] for e in audit_events(server, "client.auth_failed")]
        assert reasons == [*cases, "assertion signature invalid"], reasons


def test_unknown_client_and_malformed_assertions(server: LiveServer) -> None:
    key = KeyPair()
    with server.client() as http:
        client_id = _register(server, http, key)
        unknown = backend_token(http, "nobody", key.assertion("nobody", _aud(server)))
        assert unknown.status_code == 401 and unknown.json()["error"] == "invalid_client"
        garbage = backend_token(http, client_id, "not-a-jwt")
        assert garbage.status_code == 401
        wrong_type = http.post("/oauth/token", data={"grant_type": "client_credentials", "client_assertion": "x",
                                                     "client_assertion_type": "urn:other"})
        assert wrong_type.status_code == 400 and wrong_type.json()["error"] == "invalid_request"
        mismatch = backend_token(http, client_id, key.assertion(client_id, _aud(server)), client_id="other")
        assert mismatch.status_code == 400
        both = http.post("/oauth/token", data={"grant_type": "client_credentials", "client_secret": "x",
                                               "client_id": client_id, "client_assertion_type": ASSERTION_TYPE,
                                               "client_assertion": key.assertion(client_id, _aud(server))})
        assert both.status_code == 400 and both.json()["error"] == "invalid_request"


def test_a_secret_client_cannot_switch_to_assertions_and_any_oauth_client_may_register_keys(
        server: LiveServer) -> None:
    key = KeyPair("RS384")
    with server.client() as http:
        secret_client, _ = server.create_client(scopes=["api.read"])
        resp = backend_token(http, secret_client.client_id, key.assertion(secret_client.client_id, _aud(server)))
        assert resp.status_code == 401
        plain, secret = server.create_client(scopes=["api.read"], auth_method="private_key_jwt", jwks=key.jwks())
        assert secret is None
        ok = backend_token(http, plain.client_id, key.assertion(plain.client_id, _aud(server)), scope="api.read")
        assert ok.status_code == 200, ok.text


def test_disabled_app_is_refused(server: LiveServer) -> None:
    key = KeyPair()
    with server.client() as http:
        client_id = _register(server, http, key)
        http.patch(f"/smart/apps/{client_id}", json={"active": False}, headers=admin_headers(server, http))
        assert backend_token(http, client_id, key.assertion(client_id, _aud(server))).status_code == 401


def test_discovery_lists_the_method_and_its_algorithms(server: LiveServer) -> None:
    with server.client() as http:
        meta = http.get("/.well-known/oauth-authorization-server").json()
        assert "private_key_jwt" in meta["token_endpoint_auth_methods_supported"]
        assert {"RS384", "ES384"} <= set(meta["token_endpoint_auth_signing_alg_values_supported"])
        assert not {"HS256", "none"} & set(meta["token_endpoint_auth_signing_alg_values_supported"])


def test_a_jti_is_single_use_across_instances(database_url: str) -> None:
    key = KeyPair()
    with LiveServer(make_settings(database_url)) as first, \
            LiveServer(make_settings(database_url), init=False) as second, first.client() as a, second.client() as b:
        client_id = _register(first, a, key)
        assertion = key.assertion(client_id, _aud(first))
        assert backend_token(a, client_id, assertion).status_code == 200
        assert backend_token(b, client_id, assertion).status_code == 401
        fresh = key.assertion(client_id, _aud(first))
        assert backend_token(b, client_id, fresh).status_code == 200


@pytest.mark.redis
def test_with_redis_the_jti_is_a_set_nx_key_shared_by_instances(sqlite_url: str, redis_url: str) -> None:
    import uuid

    import redis

    namespace = f"t{uuid.uuid4().hex[:12]}"
    settings = make_settings(sqlite_url, redis_url=redis_url, redis_namespace=namespace)
    key = KeyPair()
    with LiveServer(settings) as first, LiveServer(settings, init=False) as second, \
            first.client() as a, second.client() as b:
        client_id = _register(first, a, key)
        jti = uuid.uuid4().hex
        assertion = key.assertion(client_id, _aud(first), jti=jti)
        assert backend_token(a, client_id, assertion).status_code == 200
        assert backend_token(b, client_id, assertion).status_code == 401
        r = redis.Redis.from_url(redis_url)
        try:
            stored = f"{namespace}:assertion-jti:{client_id}\x1f{jti}"
            assert r.exists(stored) and 0 < r.ttl(stored) <= 300
            r.delete(stored)
        finally:
            r.close()
