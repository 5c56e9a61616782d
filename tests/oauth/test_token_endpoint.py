"""RFC 6749 §3.2 / §4.4 / §5 — the token endpoint with the client credentials grant, over real HTTP.

Both paths (``/oauth/token`` and the IdentityServer-compatible ``/identity-server/connect/token``) must
behave identically; every §5.2 error this grant can produce is checked with its exact status and body,
and every response (success or error) carries ``Cache-Control: no-store`` and ``Pragma: no-cache``.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import httpx
import pytest

from tests.oauth.helpers import CC, TOKEN_PATHS, basic, eventually, jwt_parts
from tests.support import LiveServer, make_settings
from tokensmith.clients import set_client_status
from tokensmith.errors import InvalidRequest

path_param = pytest.mark.parametrize("path", TOKEN_PATHS)


def assert_no_store(resp: httpx.Response) -> None:
    assert resp.headers.get("cache-control") == "no-store"
    assert resp.headers.get("pragma") == "no-cache"


def assert_oauth_error(resp: httpx.Response, status: int, error: str) -> dict[str, Any]:
    """RFC 6749 §5.2: exactly ``{"error", "error_description"}``, JSON, no-store."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = resp.json()
    assert set(body) == {"error", "error_description"}, body
    assert body["error"] == error
    assert isinstance(body["error_description"], str) and body["error_description"]
    # §5.2: error_description is limited to %x20-21 / %x23-5B / %x5D-7E, even when it echoes input.
    assert re.fullmatch(r"[\x20-\x21\x23-\x5B\x5D-\x7E]+", body["error_description"]), body
    assert_no_store(resp)
    return body


# ---- success ----

@path_param
def test_success_body_shape_and_headers(any_server: LiveServer, path: str) -> None:
    record, secret = any_server.create_client(scopes=["Patient.read", "Observation.read"],
                                              access_token_ttl=2592000)
    assert secret is not None
    with any_server.client() as http:
        resp = http.post(path, data=CC, headers=basic(record.client_id, secret))
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    assert_no_store(resp)
    body = resp.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 2592000
    assert body["scope"] == "Patient.read Observation.read"
    _, claims, _ = jwt_parts(body["access_token"])
    assert claims["exp"] - claims["iat"] == 2592000


def test_expires_in_is_each_clients_configured_lifetime(any_server: LiveServer) -> None:
    long_lived, long_secret = any_server.create_client(scopes=["api.read"], access_token_ttl=2592000)
    short_lived, short_secret = any_server.create_client(scopes=["api.read"], access_token_ttl=300,
                                                         access_token_format="opaque")
    with any_server.client() as http:
        first = http.post("/oauth/token", data=CC, headers=basic(long_lived.client_id, long_secret or "")).json()
        second = http.post("/identity-server/connect/token", data=CC,
                           headers=basic(short_lived.client_id, short_secret or "")).json()
    assert first["expires_in"] == 2592000
    assert second["expires_in"] == 300


def test_requested_scope_subset_is_granted_and_absent_scope_means_the_whole_allowance(
        server: LiveServer) -> None:
    record, secret = server.create_client(scopes=["Patient.*", "Observation.read"])
    with server.client() as http:
        narrow = http.post("/oauth/token", data={**CC, "scope": "Patient.read"},
                           headers=basic(record.client_id, secret or ""))
        whole = http.post("/oauth/token", data=CC, headers=basic(record.client_id, secret or ""))
    assert narrow.status_code == 200, narrow.text
    assert narrow.json()["scope"] == "Patient.read"
    assert jwt_parts(narrow.json()["access_token"])[1]["scope"] == "Patient.read"
    assert whole.json()["scope"] == "Patient.* Observation.read"


def test_role_bounds_the_scopes_a_client_may_get(server: LiveServer) -> None:
    record, secret = server.create_client(role="member")  # member: UserToken.* Session.* *.read
    with server.client() as http:
        ok = http.post("/oauth/token", data={**CC, "scope": "Patient.read Session.write"},
                       headers=basic(record.client_id, secret or ""))
        beyond = http.post("/oauth/token", data={**CC, "scope": "Patient.read Patient.write"},
                           headers=basic(record.client_id, secret or ""))
    assert ok.status_code == 200, ok.text
    assert ok.json()["scope"] == "Patient.read Session.write"
    body = assert_oauth_error(beyond, 400, "invalid_scope")
    assert "Patient.write" in body["error_description"]


def test_client_scopes_within_a_role_are_the_allowance(server: LiveServer) -> None:
    """A role is the most a client may get; scopes given as well narrow it (they are not ignored)."""
    record, secret = server.create_client(role="member", scopes=["Patient.read", "Session.write"])
    with server.client() as http:
        default = http.post("/oauth/token", data=CC, headers=basic(record.client_id, secret or ""))
        in_role_not_client = http.post("/oauth/token", data={**CC, "scope": "Observation.read"},
                                       headers=basic(record.client_id, secret or ""))
    assert default.status_code == 200, default.text
    assert default.json()["scope"] == "Patient.read Session.write"
    assert_oauth_error(in_role_not_client, 400, "invalid_scope")
    with pytest.raises(InvalidRequest):  # scopes beyond the role cannot be configured
        server.create_client(role="member", scopes=["Patient.write"])


@path_param
def test_client_secret_post(any_server: LiveServer, path: str) -> None:
    record, secret = any_server.create_client(scopes=["api.read"], auth_method="client_secret_post")
    with any_server.client() as http:
        resp = http.post(path, data={**CC, "client_id": record.client_id, "client_secret": secret})
    assert resp.status_code == 200, resp.text
    assert resp.json()["scope"] == "api.read"
    assert_no_store(resp)


@pytest.mark.parametrize("client_id", ["svc:billing", "100%+ready", "acme billing", "a:b%3Ac+d e/f?&=é"])
def test_basic_credentials_are_form_urlencoded_before_base64(server: LiveServer, client_id: str) -> None:
    """RFC 6749 §2.3.1: client id and secret are application/x-www-form-urlencoded, then Base64."""
    record, secret = server.create_client(client_id=client_id, scopes=["api.read"])
    assert record.client_id == client_id and secret is not None
    with server.client() as http:
        resp = http.post("/oauth/token", data=CC, headers=basic(client_id, secret))
        assert resp.status_code == 200, resp.text
        assert jwt_parts(resp.json()["access_token"])[1]["client_id"] == client_id
        # The client registered client_secret_basic (the RFC 7591 default): the form is refused.
        post = http.post("/oauth/token", data={**CC, "client_id": client_id, "client_secret": secret})
        assert post.status_code == 401, post.text


def test_basic_credentials_are_url_decoded_character_by_character(server: LiveServer) -> None:
    """Every character of id and secret may arrive percent-encoded; '+' means a space."""
    server.create_client(client_id="svc one", scopes=["api.read"])
    _, secret = server.create_client(client_id="svc two", scopes=["api.read"])
    assert secret is not None

    def all_escaped(text: str) -> str:
        return "".join(f"%{b:02X}" for b in text.encode())

    raw = f"{all_escaped('svc two')}:{all_escaped(secret)}".encode()
    plus = f"svc+two:{secret}".encode()
    with server.client() as http:
        escaped = http.post("/oauth/token", data=CC,
                            headers={"Authorization": "Basic " + base64.b64encode(raw).decode()})
        with_plus = http.post("/oauth/token", data=CC,
                              headers={"Authorization": "Basic " + base64.b64encode(plus).decode()})
        wrong = http.post("/oauth/token", data=CC, headers=basic("svc one", secret))
    assert escaped.status_code == 200, escaped.text
    assert with_plus.status_code == 200, with_plus.text
    assert jwt_parts(with_plus.json()["access_token"])[1]["client_id"] == "svc two"
    assert_oauth_error(wrong, 401, "invalid_client")


def test_form_content_type_with_charset_is_accepted(server: LiveServer) -> None:
    record, secret = server.create_client(scopes=["api.read"])
    with server.client() as http:
        resp = http.post("/oauth/token", content=b"grant_type=client_credentials&scope=api.read", headers={
            **basic(record.client_id, secret or ""),
            "Content-Type": "Application/X-WWW-Form-Urlencoded; charset=UTF-8"})
    assert resp.status_code == 200, resp.text


def test_empty_parameters_are_treated_as_omitted(server: LiveServer) -> None:
    """RFC 6749 §3.1: "Parameters sent without a value MUST be treated as if they were omitted" — so Basic
    with empty ``client_id=&client_secret=`` form fields (some libraries send them) is one method, not two."""
    record, secret = server.create_client(scopes=["api.read"])
    with server.client() as http:
        resp = http.post("/oauth/token", data={**CC, "client_id": "", "client_secret": "", "scope": ""},
                         headers=basic(record.client_id, secret or ""))
        no_grant = http.post("/oauth/token", data={"grant_type": ""}, headers=basic(record.client_id, secret or ""))
        empty_post = http.post("/oauth/token", data={**CC, "client_id": record.client_id, "client_secret": ""})
    assert resp.status_code == 200, resp.text
    assert resp.json()["scope"] == "api.read"
    assert_oauth_error(no_grant, 400, "invalid_request")
    assert_oauth_error(empty_post, 401, "invalid_client")


# ---- invalid_request ----

@path_param
def test_missing_grant_type_is_invalid_request(server: LiveServer, path: str) -> None:
    record, secret = server.create_client()
    with server.client() as http:
        resp = http.post(path, data={"scope": "api.read"}, headers=basic(record.client_id, secret or ""))
    assert_oauth_error(resp, 400, "invalid_request")


@path_param
def test_wrong_content_type_is_invalid_request(server: LiveServer, path: str) -> None:
    record, secret = server.create_client()
    with server.client() as http:
        as_json = http.post(path, json=CC, headers=basic(record.client_id, secret or ""))
        as_multipart = http.post(path, files={"grant_type": (None, "client_credentials")},
                                 headers=basic(record.client_id, secret or ""))
        no_type = http.post(path, content=b"grant_type=client_credentials",
                            headers=basic(record.client_id, secret or ""))
    for resp in (as_json, as_multipart, no_type):
        assert_oauth_error(resp, 400, "invalid_request")


@path_param
@pytest.mark.parametrize("body", [
    "grant_type=client_credentials&grant_type=client_credentials",
    "grant_type=client_credentials&scope=api.read&scope=api.read",
])
def test_duplicate_parameter_is_invalid_request(server: LiveServer, path: str, body: str) -> None:
    record, secret = server.create_client(scopes=["api.read"])
    with server.client() as http:
        resp = http.post(path, content=body.encode(), headers={
            **basic(record.client_id, secret or ""), "Content-Type": "application/x-www-form-urlencoded"})
    body_json = assert_oauth_error(resp, 400, "invalid_request")
    assert "more than once" in body_json["error_description"]


@path_param
def test_two_authentication_methods_is_invalid_request(server: LiveServer, path: str) -> None:
    record, secret = server.create_client()
    with server.client() as http:
        resp = http.post(path, data={**CC, "client_id": record.client_id, "client_secret": secret},
                         headers=basic(record.client_id, secret or ""))
    assert_oauth_error(resp, 400, "invalid_request")


def test_basic_and_a_different_form_client_id_is_invalid_request(server: LiveServer) -> None:
    record, secret = server.create_client()
    with server.client() as http:
        resp = http.post("/oauth/token", data={**CC, "client_id": "someone-else"},
                         headers=basic(record.client_id, secret or ""))
    assert_oauth_error(resp, 400, "invalid_request")


# ---- invalid_client ----

@path_param
def test_invalid_client_with_basic_carries_www_authenticate(any_server: LiveServer, path: str) -> None:
    record, secret = any_server.create_client()
    _, other_secret = any_server.create_client()
    with any_server.client() as http:
        unknown = http.post(path, data=CC, headers=basic("no-such-client", secret or ""))
        wrong = http.post(path, data=CC, headers=basic(record.client_id, other_secret or ""))
        malformed = http.post(path, data=CC, headers={"Authorization": "Basic !!!not-base64"})
    for resp in (unknown, wrong, malformed):
        assert_oauth_error(resp, 401, "invalid_client")
        assert resp.headers["www-authenticate"].startswith("Basic ")
    # The public message does not say which part was wrong.
    assert unknown.json() == wrong.json()


@path_param
def test_invalid_client_with_post_has_no_www_authenticate(any_server: LiveServer, path: str) -> None:
    record, secret = any_server.create_client()
    with any_server.client() as http:
        unknown = http.post(path, data={**CC, "client_id": "no-such-client", "client_secret": "x"})
        wrong = http.post(path, data={**CC, "client_id": record.client_id, "client_secret": "wrong"})
        none = http.post(path, data=CC)
        id_only = http.post(path, data={**CC, "client_id": record.client_id})
        bearer = http.post(path, data=CC, headers={"Authorization": f"Bearer {secret}"})
    for resp in (unknown, wrong, none, id_only, bearer):
        assert_oauth_error(resp, 401, "invalid_client")
        assert "www-authenticate" not in resp.headers


def test_disabled_client_is_invalid_client(any_server: LiveServer) -> None:
    record, secret = any_server.create_client()
    any_server.call(lambda rt: set_client_status(rt, record.client_id, False))
    with any_server.client() as http:
        with_basic = http.post("/oauth/token", data=CC, headers=basic(record.client_id, secret or ""))
        with_post = http.post("/oauth/token", data={**CC, "client_id": record.client_id, "client_secret": secret})
    assert_oauth_error(with_basic, 401, "invalid_client")
    assert "www-authenticate" in with_basic.headers
    assert_oauth_error(with_post, 401, "invalid_client")
    assert "www-authenticate" not in with_post.headers


def test_public_client_cannot_use_client_credentials(server: LiveServer) -> None:
    record, secret = server.create_client(is_confidential=False)
    assert secret is None
    with server.client() as http:
        resp = http.post("/oauth/token", data={**CC, "client_id": record.client_id})
    assert_oauth_error(resp, 401, "invalid_client")


# ---- invalid_scope / unauthorized_client / unsupported_grant_type ----

@path_param
def test_scope_beyond_allowance_is_invalid_scope(any_server: LiveServer, path: str) -> None:
    record, secret = any_server.create_client(scopes=["Patient.read"])
    with any_server.client() as http:
        resp = http.post(path, data={**CC, "scope": "Patient.read Patient.write"},
                         headers=basic(record.client_id, secret or ""))
        wildcard = http.post(path, data={**CC, "scope": "Patient.*"}, headers=basic(record.client_id, secret or ""))
    assert "Patient.write" in assert_oauth_error(resp, 400, "invalid_scope")["error_description"]
    assert_oauth_error(wildcard, 400, "invalid_scope")


@pytest.mark.parametrize("scope", ['api"read', "api\\read", "api.read\tother", "caf\u00e9.read", "api\x7f"])
def test_malformed_scope_is_invalid_scope(server: LiveServer, scope: str) -> None:
    """RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )."""
    record, secret = server.create_client(scopes=["*"])
    with server.client() as http:
        resp = http.post("/oauth/token", data={**CC, "scope": scope}, headers=basic(record.client_id, secret or ""))
    assert_oauth_error(resp, 400, "invalid_scope")


@path_param
def test_client_without_the_grant_is_unauthorized_client(server: LiveServer, path: str) -> None:
    record, secret = server.create_client(grant_types=["authorization_code"], redirect_uris=["https://app/cb"])
    with server.client() as http:
        resp = http.post(path, data=CC, headers=basic(record.client_id, secret or ""))
    assert_oauth_error(resp, 400, "unauthorized_client")


@path_param
@pytest.mark.parametrize("grant_type", ["password", "urn:example:unknown", "CLIENT_CREDENTIALS"])
def test_unknown_grant_is_unsupported_grant_type(server: LiveServer, path: str, grant_type: str) -> None:
    record, secret = server.create_client()
    with server.client() as http:
        resp = http.post(path, data={"grant_type": grant_type}, headers=basic(record.client_id, secret or ""))
    assert_oauth_error(resp, 400, "unsupported_grant_type")


def test_error_descriptions_echoing_input_stay_within_the_allowed_characters(server: LiveServer) -> None:
    record, secret = server.create_client(scopes=["*"])
    auth = basic(record.client_id, secret or "")
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    with server.client() as http:
        grant = http.post("/oauth/token", data={"grant_type": "it's \"quoted\" \\ caf\u00e9"}, headers=auth)
        scope = http.post("/oauth/token", data={**CC, "scope": "caf\u00e9 it's\"x"}, headers=auth)
        duplicate = http.post("/oauth/token", content=b'grant_type=client_credentials&%22x%5C=1&%22x%5C=2',
                              headers={**auth, **form})
    assert_oauth_error(grant, 400, "unsupported_grant_type")
    assert_oauth_error(scope, 400, "invalid_scope")
    assert_oauth_error(duplicate, 400, "invalid_request")


# ---- throttling ----

def test_failed_authentications_are_throttled_even_for_the_right_secret(sqlite_url: str) -> None:
    settings = make_settings(sqlite_url, client_auth_failures_per_minute=3)
    with LiveServer(settings) as live, live.client() as http:
        record, secret = live.create_client()
        bystander, bystander_secret = live.create_client()
        for _ in range(3):
            resp = http.post("/oauth/token", data=CC, headers=basic(record.client_id, "wrong"))
            assert_oauth_error(resp, 401, "invalid_client")
        throttled = http.post("/oauth/token", data=CC, headers=basic(record.client_id, "wrong"))
        correct = http.post("/oauth/token", data=CC, headers=basic(record.client_id, secret or ""))
        via_alias = http.post("/identity-server/connect/token", data={
            **CC, "client_id": record.client_id, "client_secret": secret})
        other = http.post("/oauth/token", data=CC, headers=basic(bystander.client_id, bystander_secret or ""))
    for resp in (throttled, correct, via_alias):
        assert resp.status_code == 429, resp.text
        retry_after = int(resp.headers["retry-after"])
        assert 1 <= retry_after <= 60
        assert resp.json()["retry_after"] == retry_after
        assert resp.json()["error"]
        assert_no_store(resp)
    # The limit is per client id: another client on the same address is not locked out.
    assert other.status_code == 200, other.text


def test_successful_authentications_are_not_throttled(sqlite_url: str) -> None:
    settings = make_settings(sqlite_url, client_auth_failures_per_minute=2)
    with LiveServer(settings) as live, live.client() as http:
        record, secret = live.create_client()
        for _ in range(6):
            resp = http.post("/oauth/token", data=CC, headers=basic(record.client_id, secret or ""))
            assert resp.status_code == 200, resp.text


@pytest.mark.postgres
@pytest.mark.redis
def test_an_instance_that_saw_no_failure_learns_of_them_through_redis(postgres_url: str, redis_url: str) -> None:
    """The throttle check costs no Redis round trip while nobody fails, yet failures on one instance reach
    the others' checks (announced over pub/sub) within a second."""
    settings = {"client_auth_failures_per_minute": 3, "redis_url": redis_url}

    async def subscribed(rt: Any) -> bool:
        return bool(rt.limiter.knows_recent_failures)

    with LiveServer(make_settings(postgres_url, **settings)) as first, \
            LiveServer(make_settings(postgres_url, **settings)) as second, \
            first.client() as http_a, second.client() as http_b:
        record, secret = first.create_client()
        eventually(lambda: second.call(subscribed), timeout=5)
        assert http_b.post("/oauth/token", data=CC, headers=basic(record.client_id, secret or "")).status_code == 200

        async def heard(rt: Any) -> bool:
            return bool(rt.limiter.recently_failed("client-auth-fail", record.client_id))

        assert not second.call(heard)
        for _ in range(3):
            assert_oauth_error(http_a.post("/oauth/token", data=CC, headers=basic(record.client_id, "wrong")),
                               401, "invalid_client")
        eventually(lambda: second.call(heard), timeout=1)
        resp = http_b.post("/oauth/token", data=CC, headers=basic(record.client_id, secret or ""))
        assert resp.status_code == 429, resp.text


@pytest.mark.postgres
@pytest.mark.redis
def test_throttling_is_shared_by_instances_through_redis(postgres_url: str, redis_url: str) -> None:
    """Instances behind a load balancer share the failure count: spreading guesses over them gains nothing."""
    settings = {"client_auth_failures_per_minute": 3, "redis_url": redis_url}
    with LiveServer(make_settings(postgres_url, **settings)) as first, \
            LiveServer(make_settings(postgres_url, **settings)) as second, \
            first.client() as http_a, second.client() as http_b:
        record, secret = first.create_client()
        for http in (http_a, http_b, http_a):
            assert_oauth_error(http.post("/oauth/token", data=CC, headers=basic(record.client_id, "wrong")),
                               401, "invalid_client")
        for http in (http_b, http_a):
            resp = http.post("/oauth/token", data=CC, headers=basic(record.client_id, secret or ""))
            assert resp.status_code == 429, resp.text
            assert 1 <= int(resp.headers["retry-after"]) <= 60
