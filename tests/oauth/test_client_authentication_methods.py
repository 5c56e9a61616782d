"""Client authentication at the token, introspection and revocation endpoints, in-process: each
registered method, the method a client registered (RFC 7591 §2 ``token_endpoint_auth_method``) being
enforced, and "an API key is the caller" as one method of the same registry."""

from __future__ import annotations

from typing import Any

import httpx

from tests.oauth.conftest import InProcess
from tests.oauth.helpers import CC, basic
from tokensmith.apikeys.management import create_api_key

EXCHANGE = {"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "subject_token": "user-1",
            "subject_token_type": "urn:tokensmith:params:oauth:token-type:user-id",
            "first_name": "Ada", "last_name": "Lovelace", "organisation": "Clinic"}


def assert_error(resp: httpx.Response, status: int, error: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body: dict[str, Any] = resp.json()
    assert body["error"] == error
    return body


async def test_basic_client_presenting_its_secret_in_the_form_is_invalid_client(inproc: InProcess) -> None:
    record, secret = await inproc.create_client(scopes=["api.read"])  # registered: client_secret_basic
    assert record.auth_method == "client_secret_basic"
    in_form = await inproc.http.post("/oauth/token", data={**CC, "client_id": record.client_id,
                                                          "client_secret": secret})
    with_basic = await inproc.http.post("/oauth/token", data=CC, headers=basic(record.client_id, secret))
    introspect_in_form = await inproc.http.post("/oauth/introspect", data={
        "token": "x", "client_id": record.client_id, "client_secret": secret})
    assert_error(in_form, 401, "invalid_client")
    assert "www-authenticate" not in in_form.headers
    assert with_basic.status_code == 200, with_basic.text
    assert_error(introspect_in_form, 401, "invalid_client")


async def test_post_client_presenting_its_secret_with_basic_is_invalid_client(inproc: InProcess) -> None:
    record, secret = await inproc.create_client(scopes=["api.read"], auth_method="client_secret_post")
    with_basic = await inproc.http.post("/oauth/token", data=CC, headers=basic(record.client_id, secret))
    in_form = await inproc.http.post("/oauth/token", data={**CC, "client_id": record.client_id,
                                                          "client_secret": secret})
    assert_error(with_basic, 401, "invalid_client")
    assert with_basic.headers["www-authenticate"].startswith("Basic ")
    assert in_form.status_code == 200, in_form.text
    assert in_form.json()["scope"] == "api.read"


async def test_missing_secret_is_invalid_client(inproc: InProcess) -> None:
    record, secret = await inproc.create_client()
    id_only = await inproc.http.post("/oauth/token", data={**CC, "client_id": record.client_id})
    nothing = await inproc.http.post("/oauth/token", data=CC)
    secret_without_id = await inproc.http.post("/oauth/token", data={**CC, "client_secret": secret})
    for resp in (id_only, nothing, secret_without_id):
        assert_error(resp, 401, "invalid_client")


async def test_two_methods_in_one_request_are_invalid_request(inproc: InProcess) -> None:
    record, secret = await inproc.create_client()
    both = await inproc.http.post("/oauth/token", data={**CC, "client_id": record.client_id, "client_secret": secret},
                                  headers=basic(record.client_id, secret))
    secret_and_basic = await inproc.http.post("/oauth/token", data={**CC, "client_secret": secret},
                                              headers=basic(record.client_id, secret))
    assert_error(both, 400, "invalid_request")
    assert_error(secret_and_basic, 400, "invalid_request")


async def test_public_client_with_a_secret_is_invalid_client(inproc: InProcess) -> None:
    record, secret = await inproc.create_client(is_confidential=False)
    assert secret == "" and record.auth_method == "none"
    with_secret = await inproc.http.post("/oauth/revoke", data={"token": "x", "client_id": record.client_id,
                                                               "client_secret": "made-up"})
    with_basic = await inproc.http.post("/oauth/revoke", data={"token": "x"}, headers=basic(record.client_id, "x"))
    assert_error(with_secret, 401, "invalid_client")
    assert_error(with_basic, 401, "invalid_client")


async def test_none_is_allowed_only_where_public_clients_are(inproc: InProcess) -> None:
    public, _ = await inproc.create_client(is_confidential=False)
    confidential, _ = await inproc.create_client()
    revoke = await inproc.http.post("/oauth/revoke", data={"token": "x", "client_id": public.client_id})
    token = await inproc.http.post("/oauth/token", data={**CC, "client_id": public.client_id})
    introspect = await inproc.http.post("/oauth/introspect", data={"token": "x", "client_id": public.client_id})
    confidential_none = await inproc.http.post("/oauth/revoke", data={"token": "x",
                                                                     "client_id": confidential.client_id})
    assert revoke.status_code == 200, revoke.text
    assert_error(token, 401, "invalid_client")  # client_credentials: confidential clients only
    assert_error(introspect, 401, "invalid_client")
    assert_error(confidential_none, 401, "invalid_client")  # a confidential client must prove itself


async def _api_key(inproc: InProcess, **kw: Any) -> tuple[str, str]:
    record, secret = await create_api_key(inproc.rt, tenant_id=inproc.tenant_id, name="backend",
                                          scopes=kw.pop("scopes", ["Session.write"]), **kw)
    return record.client_id, secret


async def test_api_key_is_the_caller_of_the_token_exchange_in_every_slot(inproc: InProcess) -> None:
    key_id, secret = await _api_key(inproc)
    header = await inproc.http.post("/oauth/token", data=EXCHANGE, headers={"X-API-Key": f"{key_id}:{secret}"})
    with_basic = await inproc.http.post("/oauth/token", data=EXCHANGE, headers=basic(key_id, secret))
    in_form = await inproc.http.post("/oauth/token", data={**EXCHANGE, "client_id": key_id, "client_secret": secret})
    for resp in (header, with_basic, in_form):
        assert resp.status_code == 200, resp.text
        assert resp.json()["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    wrong = await inproc.http.post("/oauth/token", data=EXCHANGE, headers=basic(key_id, "0" * 48))
    assert_error(wrong, 401, "invalid_client")
    assert wrong.headers["www-authenticate"].startswith("Basic ")
    missing = await inproc.http.post("/oauth/token", data=EXCHANGE)
    assert_error(missing, 401, "invalid_client")


async def test_api_key_is_a_caller_of_introspection_only_in_its_header(inproc: InProcess) -> None:
    key_id, secret = await _api_key(inproc)
    record, client_secret = await inproc.create_client(scopes=["api.read"])
    token = (await inproc.http.post("/oauth/token", data=CC,
                                    headers=basic(record.client_id, client_secret))).json()["access_token"]
    by_key = await inproc.http.post("/oauth/introspect", data={"token": token},
                                    headers={"X-API-Key": f"{key_id}:{secret}"})
    assert by_key.status_code == 200 and by_key.json()["active"] is True
    # In the client slots a key is not a client: introspection reads HTTP Basic as client credentials.
    key_as_basic = await inproc.http.post("/oauth/introspect", data={"token": token}, headers=basic(key_id, secret))
    assert_error(key_as_basic, 401, "invalid_client")
    both = await inproc.http.post("/oauth/introspect", data={"token": token}, headers={
        "X-API-Key": f"{key_id}:{secret}", **basic(record.client_id, client_secret)})
    assert_error(both, 400, "invalid_request")
    bad_key = await inproc.http.post("/oauth/introspect", data={"token": token}, headers={"X-API-Key": "nope"})
    assert_error(bad_key, 401, "invalid_client")


async def test_api_key_is_not_a_caller_of_client_credentials(inproc: InProcess) -> None:
    key_id, secret = await _api_key(inproc)
    resp = await inproc.http.post("/oauth/token", data=CC, headers={"X-API-Key": f"{key_id}:{secret}"})
    assert_error(resp, 401, "invalid_client")


async def test_browser_marked_api_key_caller_is_refused(inproc: InProcess) -> None:
    key_id, secret = await _api_key(inproc)
    resp = await inproc.http.post("/oauth/token", data=EXCHANGE, headers={
        "X-API-Key": f"{key_id}:{secret}", "Origin": "https://evil.example"})
    assert_error(resp, 400, "unauthorized_client")
