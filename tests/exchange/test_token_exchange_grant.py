"""RFC 8693 token exchange on ``/oauth/token``: the standard form of the session exchange."""

from __future__ import annotations

from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

from tests.apikeys.helpers import admin_headers, api_key, audit_events, create_key
from tests.oauth.helpers import basic
from tests.support import LiveServer
from tokensmith.oauth.grants.token_exchange import ACCESS_TOKEN_TYPE, GRANT_TYPE, JWT_TOKEN_TYPE, USER_ID_TOKEN_TYPE

FORM = {"grant_type": GRANT_TYPE, "subject_token": "doctor123", "subject_token_type": USER_ID_TOKEN_TYPE,
        "first_name": "doctor", "last_name": "123", "organisation": "practice_name",
        "healthcare_provider_identification_number": "1-23456-78-901", "email": "doctor@123.com",
        "healthcare_provider_type": "general_practitioner"}


def test_token_exchange_issues_the_session_token(any_server: LiveServer) -> None:
    with any_server.client() as http:
        created = create_key(http, admin_headers(any_server, http), scopes=["Patient.read", "Observation.read"])
        resp = http.post("/oauth/token", data=FORM, headers={"X-API-Key": api_key(created)})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert set(body) == {"access_token", "issued_token_type", "token_type", "expires_in"}
        assert body["issued_token_type"] == ACCESS_TOKEN_TYPE and body["token_type"] == "Bearer"
        assert body["expires_in"] == 3600 and resp.headers["cache-control"] == "no-store"
        jwks = KeySet.import_key_set(http.get("/.well-known/jwks.json").json())
        meta = http.get("/.well-known/oauth-authorization-server").json()
    token = jose_jwt.decode(body["access_token"], jwks, algorithms=["ES256"])
    assert token.header["typ"] == "at+jwt"
    claims = token.claims
    assert claims["sub"] == "doctor123" and claims["given_name"] == "doctor" and claims["family_name"] == "123"
    assert claims["healthcare_provider_identification_number"] == "12345678901"
    assert claims["api_key_id"] == created["id"] and claims["client_id"] == created["clientId"] and claims["sid"]
    assert "scope" not in claims
    assert GRANT_TYPE in meta["grant_types_supported"]
    issued = audit_events(any_server, "exchange.issued")
    assert issued[-1]["data"]["via"] == "rfc8693"


def test_key_in_basic_or_form_credentials_and_scopes_within_the_key(server: LiveServer) -> None:
    with server.client() as http:
        created = create_key(http, admin_headers(server, http), scopes=["Patient.read", "Observation.read"])
        resp = http.post("/oauth/token", data={**FORM, "scope": "Patient.read",
                                               "requested_token_type": JWT_TOKEN_TYPE},
                         headers=basic(created["clientId"], created["secret"]))
        assert resp.status_code == 200, resp.text
        assert resp.json()["scope"] == "Patient.read" and resp.json()["issued_token_type"] == JWT_TOKEN_TYPE
        resp = http.post("/oauth/token", data={**FORM, "client_id": created["clientId"],
                                               "client_secret": created["secret"]})
        assert resp.status_code == 200, resp.text
        resp = http.post("/oauth/token", data={**FORM, "scope": "Patient.write"},
                         headers={"X-API-Key": api_key(created)})
        assert resp.status_code == 400 and resp.json()["error"] == "invalid_scope"


def test_errors_follow_rfc_6749(server: LiveServer) -> None:
    with server.client() as http:
        headers = admin_headers(server, http)
        created = create_key(http, headers)
        key = {"X-API-Key": api_key(created)}

        resp = http.post("/oauth/token", data=FORM, headers={"X-API-Key": f"{created['clientId']}:{'0' * 48}"})
        assert resp.status_code == 401 and resp.json()["error"] == "invalid_client"
        resp = http.post("/oauth/token", data=FORM, headers=basic(created["clientId"], "0" * 48))
        assert resp.status_code == 401 and resp.json()["error"] == "invalid_client"
        assert resp.headers["www-authenticate"].startswith("Basic")
        resp = http.post("/oauth/token", data=FORM)
        assert resp.status_code == 401 and resp.json()["error"] == "invalid_client"

        for form, fragment in (
            ({k: v for k, v in FORM.items() if k != "subject_token"}, "subject_token"),
            ({**FORM, "subject_token_type": "urn:ietf:params:oauth:token-type:access_token"}, "subject_token_type"),
            ({k: v for k, v in FORM.items() if k != "organisation"}, "organisation"),
            ({**FORM, "email": "nope"}, "email"),
            ({**FORM, "healthcare_provider_type": "wizard"}, "healthcare_provider_type"),
            ({**FORM, "requested_token_type": "urn:ietf:params:oauth:token-type:refresh_token"}, "requested"),
            ({**FORM, "actor_token": "x", "actor_token_type": USER_ID_TOKEN_TYPE}, "actor"),
        ):
            resp = http.post("/oauth/token", data=form, headers=key)
            assert resp.status_code == 400, (form, resp.text)
            assert resp.json()["error"] == "invalid_request" and fragment in resp.json()["error_description"]

        assert http.patch("/exchange-users/doctor123", json={"blocked": True}, headers=headers).status_code == 200
        resp = http.post("/oauth/token", data=FORM, headers=key)
        assert resp.status_code == 400
        assert resp.json() == {"error": "invalid_request", "error_description": "Invalid user_id provided"}

        resp = http.post("/oauth/token", data={**FORM, "subject_token": "other"},
                         headers={**key, "Origin": "https://app.example"})
        assert resp.status_code == 400 and resp.json()["error"] == "unauthorized_client"


def test_rate_limit_is_slow_down_with_retry_after(server: LiveServer) -> None:
    with server.client() as http:
        key = {"X-API-Key": api_key(create_key(http, admin_headers(server, http), rateLimit=1))}
        assert http.post("/oauth/token", data=FORM, headers=key).status_code == 200
        resp = http.post("/oauth/token", data=FORM, headers=key)
    assert resp.status_code == 429
    assert resp.json()["error"] == "slow_down" and resp.json()["retry_after"] >= 1
    assert resp.headers["retry-after"] == str(resp.json()["retry_after"])
