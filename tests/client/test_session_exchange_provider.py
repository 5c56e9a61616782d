"""``SessionExchangeAuth`` (spec §A): an API key traded for one session token per user, cached per user;
the exchange's refusals as typed errors (400 list, 401 key, 403 user)."""

from __future__ import annotations

import httpx
import pytest

from tests.client.helpers import USER, CountingTransport, admin_auth, create_api_key, introspect
from tests.support import LiveServer
from tokensmith.client import (
    ExchangeUser,
    InvalidApiKey,
    Options,
    SessionExchangeAuth,
    UserNotAllowed,
    ValidationFailed,
)

DOCTOR = ExchangeUser(**USER, email="ada@practice.example", healthcare_provider_type="general_practitioner",
                      healthcare_provider_identification_number="1-23456-78-901")
NURSE = ExchangeUser(user_id="nurse7", first_name="Flo", last_name="Nightingale", organisation="practice_name")


def test_one_cached_token_per_user(any_server: LiveServer) -> None:
    counted = CountingTransport()
    with SessionExchangeAuth(issuer=any_server.url, api_key=create_api_key(any_server),
                             options=Options(transport=counted)) as exchange:
        doctor = exchange.token_for(DOCTOR)
        nurse = exchange.token_for(NURSE)
        assert exchange.token_for(DOCTOR) == doctor and exchange.for_user(NURSE).token() == nurse
        assert counted.paths["/api/v1/token/"] == 2
        claims = introspect(any_server, doctor)
        assert claims["active"] is True and claims["sub"] == "doctor123"
        assert claims["organisation"] == "practice_name" and introspect(any_server, nurse)["sub"] == "nurse7"
        assert exchange.for_user(DOCTOR).get_token().extra["expires_at"].endswith("Z")


def test_the_httpx_auth_sends_the_users_token(server: LiveServer) -> None:
    seen: list[str] = []

    def api(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(200)

    with SessionExchangeAuth(issuer=server.url, api_key=create_api_key(server), user=DOCTOR) as exchange, \
            httpx.Client(transport=httpx.MockTransport(api), auth=exchange) as frontend_api:
        frontend_api.get("https://api.example/widget")
        assert seen == [f"Bearer {exchange.token()}"]


def test_a_wrong_api_key_is_invalid_api_key(server: LiveServer) -> None:
    key = create_api_key(server)
    with SessionExchangeAuth(issuer=server.url, api_key=key.split(":")[0] + ":" + "0" * 48) as exchange, \
            pytest.raises(InvalidApiKey) as caught:
        exchange.token_for(DOCTOR)
    assert caught.value.status == 401 and caught.value.message == "Invalid API key provided"


def test_a_blocked_user_is_user_not_allowed(server: LiveServer) -> None:
    key = create_api_key(server)
    with SessionExchangeAuth(issuer=server.url, api_key=key) as exchange, admin_auth(server) as admin:
        exchange.token_for(DOCTOR)
        with httpx.Client(base_url=server.url, auth=admin) as api:
            resp = api.patch("/exchange-users/doctor123", json={"blocked": True})
            assert resp.status_code == 200, resp.text
        exchange.for_user(DOCTOR).invalidate()
        with pytest.raises(UserNotAllowed) as caught:
            exchange.token_for(DOCTOR)
    assert caught.value.status == 403 and caught.value.message == "Invalid user_id provided"


def test_the_servers_validation_errors_come_back_as_a_list(server: LiveServer) -> None:
    bad = ExchangeUser(**{**USER, "email": "not an address"})
    with SessionExchangeAuth(issuer=server.url, api_key=create_api_key(server)) as exchange, \
            pytest.raises(ValidationFailed) as caught:
        exchange.token_for(bad)
    assert caught.value.status == 400 and [e["loc"] for e in caught.value.errors] == [["email"]]
    assert caught.value.message.startswith("email:")


def test_a_user_is_checked_before_anything_is_sent() -> None:
    with pytest.raises(ValueError, match="organisation"):
        ExchangeUser(user_id="u", first_name="a", last_name="b", organisation=" ")
    with pytest.raises(ValueError, match="healthcare_provider_type"):
        ExchangeUser(**USER, healthcare_provider_type="wizard")
    exchange = SessionExchangeAuth(issuer="http://127.0.0.1:1", api_key="id:secret")
    with pytest.raises(ValueError, match="for_user"):
        exchange.token()
    with pytest.raises(ValueError, match="clientId:secret"):
        SessionExchangeAuth(issuer="http://127.0.0.1:1", api_key="no-colon")
