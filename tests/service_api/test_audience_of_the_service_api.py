"""The service's own API accepts only access tokens meant for it (RFC 9068 §4, RFC 8707): a token for
another resource server — minted with ``resource=`` or forged with the service's own key with a wrong
or no ``aud`` — is refused with 401 ``invalid_token`` on every management route, on SQLite and
PostgreSQL; the service's own tokens (sign-in, user-token, client_credentials without ``resource``,
JWT and opaque) still pass."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.people.helpers import jwt_claims, make_user, tokens
from tests.service_api.helpers import ROUTES, call, client_token, sign_with_service_key
from tests.support import LiveServer
from tokensmith.ids import uuid7

OTHER = "https://fhir.other.example"
ISSUER = "http://127.0.0.1:9999"  # tests.support.make_settings
CLIENT_SCOPES = ["ApiKey.*", "ExchangeUser.*", "User.*", "Session.*", "UserToken.*", "Patient.read"]


def _admin_token(server: LiveServer, http: Any) -> str:
    """An admin's sign-in access token (the admin is created on first use)."""
    if not getattr(server, "_admin_made", False):
        make_user(server, "admin@example.com", role="admin")
        server._admin_made = True  # type: ignore[attr-defined]
    return str(tokens(http, "admin@example.com")["accessToken"])


def _forged(server: LiveServer, http: Any, change: Callable[[dict[str, Any]], None]) -> str:
    claims = {**jwt_claims(_admin_token(server, http)), "jti": uuid7()}
    change(claims)
    return sign_with_service_key(server, claims)


def _other_resource(server: LiveServer, http: Any) -> str:
    return client_token(server, http, CLIENT_SCOPES, resource=OTHER)


def _wrong_aud(server: LiveServer, http: Any) -> str:
    return _forged(server, http, lambda c: c.update(aud=OTHER))


def _missing_aud(server: LiveServer, http: Any) -> str:
    return _forged(server, http, lambda c: c.pop("aud"))


def _aud_not_a_string(server: LiveServer, http: Any) -> str:
    return _forged(server, http, lambda c: c.update(aud={"value": ISSUER}))


def _opaque_other_resource(server: LiveServer, http: Any) -> str:
    return client_token(server, http, CLIENT_SCOPES, fmt="opaque", resource=OTHER)


@pytest.mark.parametrize("make_token", [_other_resource, _wrong_aud, _missing_aud, _aud_not_a_string,
                                        _opaque_other_resource])
def test_tokens_for_another_audience_are_refused_on_every_route(any_server: LiveServer,
                                                                make_token: Callable[..., str]) -> None:
    with any_server.client() as http:
        token = make_token(any_server, http)
        answers = {(method, path): call(http, method, path, body, token) for method, path, body in ROUTES}
    wrong = {route: (r.status_code, r.text) for route, r in answers.items() if r.status_code != 401}
    assert not wrong, wrong
    for resp in answers.values():
        assert resp.json()["error"] == "invalid_token"
        assert resp.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


def test_the_services_own_tokens_are_still_accepted(any_server: LiveServer) -> None:
    with any_server.client() as http:
        signed_in = _admin_token(any_server, http)
        assert jwt_claims(signed_in)["aud"] == ISSUER
        for method, path, body in ROUTES:
            resp = call(http, method, path, body, signed_in)
            assert resp.status_code in (200, 201), (method, path, resp.text)
        as_list = _forged(any_server, http, lambda c: c.update(aud=[OTHER, ISSUER]))  # RFC 7519: contains
        assert call(http, "GET", "/users/me", None, as_list).status_code == 200
        # personal user token -> opaque access token (its stored claims carry the service's audience)
        created = http.post("/user-tokens", json={"name": "script"}, headers={"Authorization": f"Bearer {signed_in}"})
        assert created.status_code == 201, created.text
        opaque = http.post("/api/user/oauth2/token", data={"grant_type": "refresh_token",
                                                            "refresh_token": created.json()["token"]})
        assert opaque.status_code == 200, opaque.text
        assert call(http, "GET", "/users/me", None, opaque.json()["access_token"]).status_code == 200
        # client_credentials without resource (JWT and opaque), and with the service itself as resource
        for token in (client_token(any_server, http, CLIENT_SCOPES),
                      client_token(any_server, http, CLIENT_SCOPES, fmt="opaque"),
                      client_token(any_server, http, CLIENT_SCOPES, resource=ISSUER)):
            assert call(http, "GET", "/api-keys", None, token).status_code == 200
            assert call(http, "GET", "/exchange-users", None, token).status_code == 200


def test_a_token_for_another_resource_is_still_active_at_introspection(any_server: LiveServer) -> None:
    """The audience rule is the service API's, not introspection's: the resource server the token was
    minted for must still be able to check it."""
    from tests.people.helpers import introspect

    with any_server.client() as http:
        token = _other_resource(any_server, http)
        info = introspect(any_server, http, token)
    assert info["active"] is True and info["aud"] == OTHER
