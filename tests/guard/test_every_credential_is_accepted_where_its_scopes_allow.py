"""Every credential kind the service issues, presented to the example API on loopback: accepted where its
scopes allow, 403 ``insufficient_scope`` (naming the scope) where they do not, 401 when it is missing or bad."""

from __future__ import annotations

from typing import Any

import httpx

from tests.guard.helpers import (
    TOKEN_EXCHANGE,
    ExampleApi,
    bearer,
    cc_token,
    make_api_key,
    make_clinician,
    session_token,
    sign_in_token,
    user_token_access_token,
)
from tests.support import LiveServer


def _read_allowed_write_refused(api: ExampleApi, headers: dict[str, str]) -> None:
    with api.client() as http:
        read = http.get("/fhir/Patient", headers=headers)
        assert read.status_code == 200, read.text
        assert read.json()["resourceType"] == "Bundle"
        write = http.post("/fhir/Observation", headers=headers,
                          json={"status": "final", "subject": {"reference": "Patient/" + "0" * 32}})
        assert write.status_code == 403, write.text
        assert write.json() == {"error": "insufficient_scope", "scope": "Observation.write",
                                "error_description": "this operation requires the scope Observation.write"}
        assert write.headers["www-authenticate"] == 'Bearer error="insufficient_scope", scope="Observation.write"'


def test_client_credentials_jwt_reads_and_writes_within_its_scopes(service: LiveServer, api: ExampleApi) -> None:
    token = cc_token(service, ["Patient.*", "Observation.write"])
    with api.client() as http:
        patient = http.post("/fhir/Patient", json={"name": [{"family": "Peeters"}]}, headers=bearer(token))
        assert patient.status_code == 201, patient.text
        pid = patient.json()["id"]
        assert http.get(f"/fhir/Patient/{pid}", headers=bearer(token)).json()["name"] == [{"family": "Peeters"}]
        obs = http.post("/fhir/Observation", headers=bearer(token),
                        json={"status": "final", "code": {"text": "heart rate"},
                              "subject": {"reference": f"Patient/{pid}"}})
        assert obs.status_code == 201, obs.text
        search = http.get("/fhir/Observation", params={"patient": pid}, headers=bearer(token))
        assert search.status_code == 403  # Observation.read is not among its scopes
        assert search.json()["scope"] == "Observation.read"
    assert api.guard.introspection is not None and api.guard.introspection.requests == 0  # verified locally


def test_opaque_client_credentials_token_is_introspected(service: LiveServer, api: ExampleApi) -> None:
    token = cc_token(service, ["Patient.read"], fmt="opaque")
    assert token.count(".") != 2
    _read_allowed_write_refused(api, bearer(token))
    assert api.guard.introspection is not None and api.guard.introspection.requests == 1  # then cached


def test_api_key_is_accepted_with_its_scopes(service: LiveServer, api: ExampleApi) -> None:
    _, key = make_api_key(service, ["Patient.read"])
    _read_allowed_write_refused(api, {"X-API-Key": key})


def test_api_key_from_a_browser_is_refused_as_the_service_refuses_it(service: LiveServer, api: ExampleApi) -> None:
    _, key = make_api_key(service, ["Patient.read"])
    with api.client() as http:
        for marker in ({"Origin": "https://app.example"}, {"Sec-Fetch-Mode": "cors"}):
            resp = http.get("/fhir/Patient", headers={"X-API-Key": key, **marker})
            assert resp.status_code == 401
            assert resp.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
            assert "browser" in resp.json()["error_description"]
        assert http.get("/fhir/Patient", headers={"X-API-Key": key}).status_code == 200


def test_wrong_api_key_secret_is_refused(service: LiveServer, api: ExampleApi) -> None:
    record, _ = make_api_key(service, ["Patient.read"])
    with api.client() as http:
        resp = http.get("/fhir/Patient", headers={"X-API-Key": f"{record.client_id}:{'0' * 48}"})
        assert resp.status_code == 401
        assert resp.json()["error"] == "invalid_token"
        assert http.get("/fhir/Patient", headers={"X-API-Key": "no-colon-here"}).status_code == 401
    assert api.guard.introspection is not None and api.guard.introspection.requests == 1  # junk never sent


def test_session_exchange_tokens_carry_only_what_was_asked(service: LiveServer, api: ExampleApi) -> None:
    _, key = make_api_key(service, ["Patient.read"])
    plain = session_token(service, key)  # spec A: no scope at all
    with api.client() as http:
        resp = http.get("/fhir/Patient", headers=bearer(plain))
        assert resp.status_code == 403 and resp.json()["scope"] == "Patient.read"
    with service.client() as http:
        resp = http.post("/oauth/token", data={**TOKEN_EXCHANGE, "scope": "Patient.read"}, headers={"X-API-Key": key})
        assert resp.status_code == 200, resp.text
        scoped = resp.json()["access_token"]
    _read_allowed_write_refused(api, bearer(scoped))


def test_user_token_access_token_is_accepted_with_the_role_permissions(service: LiveServer, api: ExampleApi) -> None:
    user = make_clinician(service)
    access, body = user_token_access_token(service, user)
    assert access.count(".") != 2  # an opaque reference token
    _read_allowed_write_refused(api, bearer(access))
    assert body["session_id"]


def test_sign_in_access_token_is_accepted_with_the_role_permissions(service: LiveServer, api: ExampleApi) -> None:
    make_clinician(service)
    _read_allowed_write_refused(api, bearer(sign_in_token(service)))


def test_no_credential_gets_the_challenge_without_an_error_code(api: ExampleApi) -> None:
    with api.client() as http:
        for headers in ({}, {"Authorization": "Basic YTpi"}, {"Authorization": "Bearer"}):
            resp = http.get("/fhir/Patient", headers=headers)
            assert resp.status_code == 401
            assert resp.headers["www-authenticate"] == 'Bearer realm="tokensmith"'
            assert "error=" not in resp.headers["www-authenticate"]


def test_garbage_tokens_are_invalid_tokens(api: ExampleApi) -> None:
    with api.client() as http:
        for token in ("x", "a.b.c", "eyJhbGciOiJFUzI1NiJ9.e30.AAAA", "not-a-real-opaque-token"):
            resp = http.get("/fhir/Patient", headers=bearer(token))
            assert resp.status_code == 401, token
            assert resp.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
            assert resp.json()["error"] == "invalid_token"


def test_control_characters_and_two_credentials_are_bad_requests(service: LiveServer, api: ExampleApi) -> None:
    token = cc_token(service, ["Patient.read"])
    _, key = make_api_key(service, ["Patient.read"])
    with api.client() as http:
        both = http.get("/fhir/Patient", headers={**bearer(token), "X-API-Key": key})
        assert both.status_code == 400 and both.json()["error"] == "invalid_request"
    raw = httpx.Client(base_url=api.url, timeout=5)
    with raw:
        resp = raw.get("/fhir/Patient", headers={"Authorization": "Bearer abc\x01def"})
        assert resp.status_code == 400


def test_health_and_metrics_are_public_and_report(api: ExampleApi, service: LiveServer) -> None:
    token = cc_token(service, ["Patient.read"])
    with api.client() as http:
        http.get("/fhir/Patient", headers=bearer(token))
        health: dict[str, Any] = http.get("/healthz").json()
        metrics = http.get("/metrics").text
    assert health["status"] == "ok" and health["revocation_feed"]["loaded"] is True
    assert "tokensmith_guard_feed_age_seconds" in metrics and "tokensmith_guard_failing_closed 0.0" in metrics
