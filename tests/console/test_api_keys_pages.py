"""API keys in the console (over HTTP, in-process server): the list, creating a key whose shown-once secret
works at ``/api/v1/token/``, scopes limited to the user's own, edit, rotate with a grace period, and a
revocation that needs its confirmation box and makes the exchange fail with 401."""

from __future__ import annotations

import re

import httpx

from tests.console.helpers import assert_no_inline_code, client_as, post, secret_of
from tests.support import LiveServer

EXCHANGE_BODY = {"user_id": "u-1", "first_name": "Ann", "last_name": "Lee", "organisation": "Clinic"}


def _create(http: httpx.Client, name: str = "backend", scopes: str = "Patient.read") -> tuple[str, str]:
    resp = post(http, "/console/api-keys/new", {"name": name, "scopes_other": scopes},
                form_page="/console/api-keys/new")
    assert resp.status_code == 200, resp.text
    assert "shown only this once" in resp.text
    assert resp.headers["cache-control"] == "no-store"
    key_id = re.search(r'href="/console/api-keys/([0-9a-f-]+)"', resp.text).group(1)  # type: ignore[union-attr]
    return key_id, secret_of(resp.text)


def test_the_empty_list_says_what_to_do(server: LiveServer) -> None:
    with client_as(server, "dev@example.com", "developer") as http:
        resp = http.get("/console/api-keys")
    assert resp.status_code == 200
    assert "No API keys yet." in resp.text and 'href="/console/api-keys/new"' in resp.text
    assert_no_inline_code(resp.text)


def test_a_created_key_works_once_shown_and_fails_with_401_once_revoked(server: LiveServer) -> None:
    with client_as(server, "dev@example.com", "developer") as http:
        key_id, api_key = _create(http)
        ok = http.post("/api/v1/token/", json=EXCHANGE_BODY, headers={"X-Api-Key": api_key})
        assert ok.status_code == 200, ok.text
        listing = http.get("/console/api-keys").text
        assert "backend" in listing and api_key.split(":")[0] in listing and api_key.split(":")[1] not in listing
        detail = http.get(f"/console/api-keys/{key_id}").text
        assert api_key.split(":")[1] not in detail
        assert f'href="/console/api-keys/{key_id}/revoke"' in detail  # a link to the confirmation page
        confirm = http.get(f"/console/api-keys/{key_id}/revoke").text
        assert "Revoke the API key backend?" in confirm and 'name="confirm"' in confirm and "Cancel" in confirm
        unconfirmed = post(http, f"/console/api-keys/{key_id}/revoke", {})
        assert unconfirmed.status_code == 400 and "Tick the box to confirm" in unconfirmed.text
        assert 'id="e-confirm"' in unconfirmed.text
        assert http.post("/api/v1/token/", json=EXCHANGE_BODY, headers={"X-Api-Key": api_key}).status_code == 200
        done = post(http, f"/console/api-keys/{key_id}/revoke", {"confirm": "yes"})
        assert done.status_code == 303
        assert "The key is revoked." in http.get(done.headers["location"]).text
        refused = http.post("/api/v1/token/", json=EXCHANGE_BODY, headers={"X-Api-Key": api_key})
        assert refused.status_code == 401 and refused.json() == {"error": "Invalid API key provided"}


def test_scopes_beyond_the_users_own_are_refused_next_to_the_field(server: LiveServer) -> None:
    with client_as(server, "dev@example.com", "developer") as http:
        resp = post(http, "/console/api-keys/new", {"name": "x", "scopes_other": "Patient.write"},
                    form_page="/console/api-keys/new")
        assert resp.status_code == 403
        assert 'class="error"' in resp.text and "Patient.write" in resp.text
        assert 'value="x"' in resp.text  # the form keeps what was typed
        empty = post(http, "/console/api-keys/new", {"name": "x"}, form_page="/console/api-keys/new")
        assert empty.status_code == 400 and 'id="e-scopes"' in empty.text
        bad_date = post(http, "/console/api-keys/new", {"name": "x", "scopes_other": "Patient.read",
                                                        "expires_at": "tomorrow"}, form_page="/console/api-keys/new")
        assert bad_date.status_code == 400 and 'id="e-expires_at"' in bad_date.text


def test_edit_and_rotate_with_a_grace_period(server: LiveServer) -> None:
    with client_as(server, "dev@example.com", "developer") as http:
        key_id, old = _create(http)
        saved = post(http, f"/console/api-keys/{key_id}/edit", {"name": "renamed", "scopes": "Patient.read",
                                                                "rate_limit": "30", "active": "on"})
        assert saved.status_code == 303
        page = http.get(f"/console/api-keys/{key_id}").text
        assert "renamed" in page and "30/min" in page
        bad = post(http, f"/console/api-keys/{key_id}/edit", {"name": "renamed", "rate_limit": "0", "active": "on"})
        assert bad.status_code == 400 and 'id="e-rate_limit"' in bad.text
        rotated = post(http, f"/console/api-keys/{key_id}/rotate", {"grace_seconds": "600"})
        assert rotated.status_code == 200 and "previous secret keeps working until" in rotated.text
        new = secret_of(rotated.text)
        assert new != old
        for key in (old, new):
            assert http.post("/api/v1/token/", json=EXCHANGE_BODY, headers={"X-Api-Key": key}).status_code == 200
        post(http, f"/console/api-keys/{key_id}/rotate", {"grace_seconds": "0"})
        assert http.post("/api/v1/token/", json=EXCHANGE_BODY, headers={"X-Api-Key": new}).status_code == 401


def test_the_list_pages_through_many_keys(server: LiveServer) -> None:
    from tokensmith.apikeys.management import create_api_key

    async def many(rt):  # type: ignore[no-untyped-def]
        for i in range(105):
            await create_api_key(rt, tenant_id=server.tenant_id, name=f"key-{i:03d}", scopes=["Patient.read"])

    server.call(many)
    with client_as(server, "dev@example.com", "developer") as http:
        first = http.get("/console/api-keys").text
        assert "105 keys · page 1 of 2" in first and "key-000" in first and "key-104" not in first
        second = http.get("/console/api-keys?page=2").text
        assert "key-104" in second and "key-000" not in second and "Previous page" in second
        assert "key-000" in http.get("/console/api-keys?page=99").text  # out of range: the first page
    overview = None
    with client_as(server, "own@example.com", "owner") as http:
        overview = http.get("/console").text
    assert re.search(r"API keys</a></dt><dd>105<", overview)


def test_a_key_sent_by_a_browser_is_flagged_in_the_list(server: LiveServer) -> None:
    with client_as(server, "dev@example.com", "developer") as http:
        key_id, api_key = _create(http)
        assert "seen from a browser" not in http.get("/console/api-keys").text
        leaked = http.post("/api/v1/token/", json=EXCHANGE_BODY,
                           headers={"X-Api-Key": api_key, "Origin": "https://shop.example", "Sec-Fetch-Mode": "cors"})
        assert leaked.status_code in (401, 403)
        server.call(lambda rt: rt.audit.flush())
        assert "seen from a browser" in http.get("/console/api-keys").text
        assert "may have leaked" in http.get(f"/console/api-keys/{key_id}").text
