"""A retired signing key stays in the JWKS until the longest token it may have signed has expired, with
the lifetimes as configured: raising the sign-in, user-token, exchange or client lifetime must keep the
key published longer (a relying party would otherwise refuse tokens that are still valid)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest

from tests.oauth.helpers import jwt_parts
from tests.people.helpers import introspect, make_user, tokens
from tests.support import LiveServer, make_settings
from tokensmith.apikeys.management import create_api_key
from tokensmith.clock import ManualClock
from tokensmith.signing_keys import list_keys, rotate_keys

DAY = 24 * 3600


def _kids(live: LiveServer) -> list[str]:
    with live.client() as http:
        return [k["kid"] for k in http.get("/.well-known/jwks.json").json()["keys"]]


def _publish_until(live: LiveServer, kid: str) -> float:
    row = next(k for k in live.call(list_keys) if k["kid"] == kid)
    assert row["status"] == "retired"
    return datetime.fromisoformat(row["publish_until"]).timestamp()


def test_raised_sign_in_lifetime_keeps_the_retired_key_until_its_tokens_expire(database_url: str) -> None:
    # Mid-second, as a real clock is (``exp`` is whole seconds), and the same on every run.
    clock = ManualClock(int(time.time()) + 0.5)
    lifetime = 40 * DAY  # longer than every other lifetime in use
    settings = make_settings(database_url, login_access_token_ttl=lifetime)
    with LiveServer(settings, clock=clock) as live, live.client() as http:
        make_user(live, "nurse@hospital.example")
        access = tokens(http, "nurse@hospital.example")["accessToken"]
        header, claims = jwt_parts(access)[:2]
        kid, exp, leeway = header["kid"], claims["exp"], live.settings.jwt_leeway
        assert live.call(lambda rt: rotate_keys(rt))["retired"] == kid

        clock.advance(lifetime - 1)
        assert introspect(live, http, access)["active"] is True
        assert kid in _kids(live)
        # Expired, and relying parties' leeway still running (they refuse it from exp + leeway on, RFC
        # 7519 §4.1.4; the key leaves at rotation + lifetime + leeway, which is not before that).
        clock.advance(leeway)
        assert exp < clock.now() < exp + leeway
        assert kid in _kids(live)
        clock.advance(2)  # past exp + leeway: no relying party accepts the token any longer
        assert clock.now() > exp + leeway
        assert kid not in _kids(live)


@pytest.mark.parametrize("overrides", [
    {"login_access_token_ttl": 40 * DAY},
    {"user_token_access_ttl": 40 * DAY},
    {"client_token_ttl": 40 * DAY},
    {"exchange_token_ttl": 40 * DAY, "exchange_max_token_ttl": 40 * DAY},
], ids=lambda o: next(iter(o)))
def test_every_configured_lifetime_extends_the_publication(sqlite_url: str, overrides: dict[str, Any]) -> None:
    clock = ManualClock()
    with LiveServer(make_settings(sqlite_url, **overrides), clock=clock) as live:
        retired = live.call(lambda rt: rotate_keys(rt))["retired"]
        assert _publish_until(live, retired) >= int(clock.now()) + 40 * DAY + live.settings.jwt_leeway


def test_stored_lifetimes_count_even_beyond_a_lowered_bound(sqlite_url: str) -> None:
    """Clients and API keys get tokens of the lifetime stored with them; lowering ``max_token_ttl`` (or
    ``exchange_max_token_ttl``) later bounds new credentials only."""
    clock = ManualClock()
    with LiveServer(make_settings(sqlite_url, exchange_max_token_ttl=100 * DAY), clock=clock) as live:
        live.create_client(access_token_ttl=60 * DAY)

        live.call(lambda rt: create_api_key(rt, tenant_id=live.tenant_id, name="k", scopes=[],
                                            token_ttl=100 * DAY, actor="test"))
        live.settings.max_token_ttl = DAY
        live.settings.exchange_max_token_ttl = DAY
        retired = live.call(lambda rt: rotate_keys(rt))["retired"]
        assert _publish_until(live, retired) >= int(clock.now()) + 100 * DAY + live.settings.jwt_leeway
