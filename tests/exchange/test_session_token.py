"""``POST /api/v1/token/`` (spec A): every response code with its exact body, the token's claims, and the
token verified by a third-party JWT library (joserfc) against the published JWKS."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from tests.apikeys.helpers import FULL_USER, USER, admin_headers, api_key, audit_events, create_key, exchange
from tests.support import LiveServer, make_settings
from tokensmith.runtime import Runtime

ISSUER = "http://127.0.0.1:9999"
INVALID_KEY = {"error": "Invalid API key provided"}
INVALID_USER = {"error": "Invalid user_id provided"}


def _jwks(http: object) -> KeySet:
    return KeySet.import_key_set(http.get("/.well-known/jwks.json").json())  # type: ignore[attr-defined]


def test_valid_key_gets_a_signed_token_for_the_user(any_server: LiveServer) -> None:
    with any_server.client() as http:
        created = create_key(http, admin_headers(any_server, http))
        before = int(time.time())
        resp = exchange(http, api_key(created), FULL_USER)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert set(body) == {"token", "expires_at"}
        assert resp.headers["cache-control"] == "no-store"
        assert "access-control-allow-origin" not in resp.headers

        token = jose_jwt.decode(body["token"], _jwks(http), algorithms=["ES256"])
    assert token.header["typ"] == "at+jwt" and token.header["alg"] == "ES256" and token.header["kid"]
    claims = token.claims
    JWTClaimsRegistry(
        leeway=5,
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": ISSUER},
        sub={"essential": True, "value": "doctor123"},
        exp={"essential": True}, iat={"essential": True}, jti={"essential": True}, sid={"essential": True},
    ).validate(claims)
    assert claims["given_name"] == "doctor" and claims["family_name"] == "123"
    assert claims["email"] == "doctor@123.com"
    assert claims["organisation"] == "practice_name"
    assert claims["healthcare_provider_identification_number"] == "12345678901"  # separators removed
    assert claims["healthcare_provider_type"] == "general_practitioner"
    assert claims["tenant"] == any_server.tenant_id
    assert claims["client_id"] == created["clientId"]
    assert claims["api_key_id"] == created["id"]
    assert "scope" not in claims and "uid" not in claims
    # Default lifetime: one hour; expires_at is the token's exp as ISO 8601 UTC with a Z.
    assert claims["exp"] - claims["iat"] == 3600
    assert before <= claims["iat"] <= int(time.time()) + 1
    assert body["expires_at"] == datetime.fromtimestamp(claims["exp"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_each_exchange_is_its_own_session(server: LiveServer) -> None:
    with server.client() as http:
        key = api_key(create_key(http, admin_headers(server, http)))
        first = jose_jwt.decode(exchange(http, key).json()["token"], _jwks(http), algorithms=["ES256"]).claims
        second = jose_jwt.decode(exchange(http, key).json()["token"], _jwks(http), algorithms=["ES256"]).claims
    assert first["sid"] != second["sid"] and first["jti"] != second["jti"]
    # Optional claims are absent when the optional fields are.
    assert not {"email", "healthcare_provider_identification_number", "healthcare_provider_type"} & set(first)


def test_token_lifetime_is_configurable_per_key(server: LiveServer) -> None:
    with server.client() as http:
        created = create_key(http, admin_headers(server, http), tokenTtl=300)
        body = exchange(http, api_key(created)).json()
        claims = jose_jwt.decode(body["token"], _jwks(http), algorithms=["ES256"]).claims
    assert claims["exp"] - claims["iat"] == 300


def test_the_token_is_active_at_introspection(server: LiveServer) -> None:
    record, secret = server.create_client(scopes=["api.read"], name="rs")
    with server.client() as http:
        created = create_key(http, admin_headers(server, http))
        token = exchange(http, api_key(created), FULL_USER).json()["token"]
        info = http.post("/oauth/introspect", data={"token": token}, auth=(record.client_id, secret)).json()
    assert info["active"] is True
    assert info["sub"] == "doctor123" and info["client_id"] == created["clientId"]
    assert info["api_key_id"] == created["id"] and info["organisation"] == "practice_name"


def test_path_without_trailing_slash_is_served_too(server: LiveServer) -> None:
    with server.client() as http:
        key = api_key(create_key(http, admin_headers(server, http)))
        resp = http.post("/api/v1/token", json=USER, headers={"X-Api-Key": key})
    assert resp.status_code == 200, resp.text


# ---- 401 ----

def test_401_for_every_unusable_key(server: LiveServer) -> None:
    with server.client() as http:
        headers = admin_headers(server, http)
        created = create_key(http, headers)
        good = api_key(created)
        wrong_secret = f"{created['clientId']}:{'0' * 48}"
        unknown = f"{'a' * 32}:{'b' * 48}"
        for key in (None, "", "garbage", created["clientId"], created["secret"], wrong_secret, unknown,
                    good + "x", f"{created['clientId']}:{created['secret'][:-1]}"):
            resp = exchange(http, key)
            assert resp.status_code == 401, (key, resp.text)
            assert resp.json() == INVALID_KEY
        # Hex is case-insensitive: the same key in upper case is the same key.
        assert exchange(http, good.upper()).status_code == 200

        inactive = create_key(http, headers)
        assert http.patch(f"/api-keys/{inactive['id']}", json={"active": False}, headers=headers).status_code == 200
        assert exchange(http, api_key(inactive)).json() == INVALID_KEY

        revoked = create_key(http, headers)
        assert http.delete(f"/api-keys/{revoked['id']}", headers=headers).status_code == 204
        resp = exchange(http, api_key(revoked))
        assert resp.status_code == 401 and resp.json() == INVALID_KEY
    failures = audit_events(server, "apikey.auth_failed")
    reasons = {e["data"]["reason"] for e in failures}
    assert {"wrong secret", "inactive", "revoked"} <= reasons
    assert all(created["secret"] not in str(e) for e in failures)


def test_401_comes_before_validation(server: LiveServer) -> None:
    with server.client() as http:
        resp = exchange(http, None, b"{not json")
    assert resp.status_code == 401 and resp.json() == INVALID_KEY


# ---- 403 ----

def test_organisation_restriction(server: LiveServer) -> None:
    with server.client() as http:
        headers = admin_headers(server, http)
        key = api_key(create_key(http, headers, allowedOrganisations=["Clinic  A", "Clinic B"]))
        for organisation in ("Clinic A", "clinic a", "  CLINIC   A ", "Clinic B"):
            resp = exchange(http, key, {**USER, "organisation": organisation})
            assert resp.status_code == 200, (organisation, resp.text)
        resp = exchange(http, key, {**USER, "organisation": "Clinic C"})
        assert resp.status_code == 403
        assert resp.json() == INVALID_USER
    refused = audit_events(server, "exchange.refused")
    assert refused and refused[-1]["data"]["reason"] == "organisation not allowed for this key"
    assert refused[-1]["subject"] == USER["user_id"]


def test_blocked_user_is_refused_and_unblocked_user_allowed_again(server: LiveServer) -> None:
    with server.client() as http:
        headers = admin_headers(server, http)
        key = api_key(create_key(http, headers))
        assert exchange(http, key).status_code == 200
        resp = http.patch("/exchange-users/doctor123", json={"blocked": True, "notes": "left"}, headers=headers)
        assert resp.status_code == 200, resp.text
        assert resp.json()["blocked"] is True
        resp = exchange(http, key)
        assert resp.status_code == 403 and resp.json() == INVALID_USER
        # Another user of the same tenant is not affected.
        assert exchange(http, key, {**USER, "user_id": "doctor124"}).status_code == 200
        assert http.patch("/exchange-users/doctor123", json={"blocked": False}, headers=headers).status_code == 200
        assert exchange(http, key).status_code == 200
    types = [e["type"] for e in audit_events(server, "exchange_user.")]
    assert types == ["exchange_user.blocked", "exchange_user.unblocked"]


# ---- 429 ----

def test_429_with_retry_after_when_the_key_limit_is_spent(server: LiveServer) -> None:
    with server.client() as http:
        key = api_key(create_key(http, admin_headers(server, http), rateLimit=3))
        assert [exchange(http, key).status_code for _ in range(3)] == [200, 200, 200]
        resp = exchange(http, key)
    assert resp.status_code == 429
    body = resp.json()
    assert set(body) == {"error", "retry_after"} and body["error"] == "Rate limit exceeded"
    assert isinstance(body["retry_after"], int) and 1 <= body["retry_after"] <= 60
    assert resp.headers["retry-after"] == str(body["retry_after"])
    limited = audit_events(server, "apikey.rate_limited")
    assert len(limited) == 1 and limited[0]["data"]["limit_per_minute"] == 3


# ---- browser markers ----

def test_browser_marked_requests_are_refused_and_audited_as_a_leak(server: LiveServer) -> None:
    with server.client() as http:
        headers = admin_headers(server, http)
        created = create_key(http, headers)
        key = api_key(created)
        for marker in ({"Origin": "https://app.example"}, {"Sec-Fetch-Mode": "cors"}, {"Origin": "null"}):
            resp = exchange(http, key, headers=marker)
            assert resp.status_code == 403, resp.text
            assert "browser" in resp.json()["error"]
            assert "access-control-allow-origin" not in resp.headers
        # A key explicitly allowed in browsers (not recommended) passes.
        allowed = api_key(create_key(http, headers, allowBrowser=True))
        assert exchange(http, allowed, headers={"Origin": "https://app.example"}).status_code == 200
    leaks = audit_events(server, "apikey.browser_use")
    assert leaks and leaks[0]["subject"] == created["id"]
    assert leaks[0]["data"]["origin"] == "https://app.example" and "leak" in leaks[0]["data"]["note"]
    assert all(created["secret"] not in str(e) for e in leaks)


def test_cors_is_never_enabled(server: LiveServer) -> None:
    with server.client() as http:
        preflight = http.options("/api/v1/token/", headers={
            "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key, content-type"})
    assert preflight.status_code in (400, 405)
    assert not any(h.startswith("access-control-") for h in preflight.headers)


# ---- audit and no per-request writes ----

def test_exchanges_are_audited_without_secrets(server: LiveServer) -> None:
    with server.client() as http:
        created = create_key(http, admin_headers(server, http))
        body = exchange(http, api_key(created), FULL_USER).json()
    issued = audit_events(server, "exchange.issued")
    assert len(issued) == 1
    event = issued[0]
    assert event["actor"] == f"apikey:{created['id']}" and event["subject"] == "doctor123"
    assert event["tenant_id"] == server.tenant_id and event["ip"] == "127.0.0.1" and event["request_id"]
    claims = jose_jwt.decode(body["token"], _jwks_from(server), algorithms=["ES256"]).claims
    assert event["data"]["jti"] == claims["jti"] and event["data"]["sid"] == claims["sid"]
    assert created["secret"] not in str(event) and body["token"] not in str(event)


def _jwks_from(server: LiveServer) -> KeySet:
    with server.client() as http:
        return _jwks(http)


@pytest.fixture
def slow_batches(database_url: str) -> Iterator[LiveServer]:
    """Batch writers that wait long enough for the test to look before they write."""
    settings = make_settings(database_url, exchange_user_flush_interval=600, api_key_usage_flush_interval=600)
    with LiveServer(settings) as live:
        yield live


def test_no_database_write_per_exchange(slow_batches: LiveServer) -> None:
    server = slow_batches
    from sqlalchemy import func, select

    from tokensmith.storage.models import ApiKey, ExchangeUser, Session

    async def counts(rt: object) -> tuple[int, int, object]:
        async with rt.db.session() as session:  # type: ignore[attr-defined]
            sessions = (await session.execute(select(func.count()).select_from(Session))).scalar_one()
            users = (await session.execute(select(func.count()).select_from(ExchangeUser))).scalar_one()
            used = (await session.execute(select(ApiKey.last_used_at))).scalar()
        return sessions, users, used

    with server.client() as http:
        created = create_key(http, admin_headers(server, http))
        for i in range(5):
            assert exchange(http, api_key(created), {**USER, "user_id": f"u{i}"}).status_code == 200
        sessions, users, used = server.call(counts)
        # Nothing written synchronously: no session rows, users and lastUsedAt only in memory so far...
        assert sessions == 0 and users == 0 and used is None
        # ...but the management API already shows lastUsedAt from memory.
        assert http.get(f"/api-keys/{created['id']}", headers=admin_headers(server, http)).json()["lastUsedAt"]
    # The batches land.

    async def flush(rt: Runtime) -> None:
        await rt.apikeys.usage.flush()
        await rt.exchange_users.flush()

    server.call(flush)
    sessions, users, used = server.call(counts)
    assert sessions == 0 and users == 5 and used is not None
