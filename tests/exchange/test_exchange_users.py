"""Users seen through the exchange: recorded per tenant in batches, listed, blocked — and a block reaches a
second instance within a second."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.apikeys.helpers import FULL_USER, USER, admin_headers, api_key, create_key, exchange, wait_until
from tests.cli.helpers import Cli
from tests.support import LiveServer, make_settings


def test_seen_users_are_listed_per_tenant(server: LiveServer) -> None:
    with server.client() as http:
        headers = admin_headers(server, http)
        key = api_key(create_key(http, headers))
        assert exchange(http, key, FULL_USER).status_code == 200
        assert exchange(http, key, {**USER, "user_id": "nurse-7", "first_name": "Ann", "organisation": "Clinic B"})
        # Seen again with new details: the row follows; optional fields not sent again are kept.
        assert exchange(http, key, {**USER, "last_name": "Renamed"}).status_code == 200
        rows = http.get("/exchange-users", headers=headers).json()
        assert {r["userId"] for r in rows} == {"doctor123", "nurse-7"}
        doctor = http.get("/exchange-users/doctor123", headers=headers).json()
        assert doctor["lastName"] == "Renamed" and doctor["email"] == "doctor@123.com"
        assert doctor["healthcareProviderIdentificationNumber"] == "12345678901"
        assert doctor["healthcareProviderType"] == "general_practitioner"
        assert doctor["blocked"] is False and doctor["firstSeenAt"] and doctor["lastSeenAt"]
        assert http.get("/exchange-users?organisation=Clinic%20B", headers=headers).json()[0]["userId"] == "nurse-7"
        assert http.get("/exchange-users?blocked=true", headers=headers).json() == []
        assert http.get("/exchange-users/nobody", headers=headers).status_code == 404
        assert http.get("/exchange-users/nobody", headers=headers).json() == {"error": "Exchange user not found"}

        # Another tenant sees none of them.
        from tokensmith.tenants.provisioning import ensure_tenant

        other = server.call(lambda rt: ensure_tenant(rt, "other"))
        record, secret = server.create_client(scopes=["ExchangeUser.*"], tenant_id=other.id, name="other-admin")
        token = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                          auth=(record.client_id, secret)).json()["access_token"]
        assert http.get("/exchange-users", headers={"Authorization": f"Bearer {token}"}).json() == []


def test_user_ids_with_slashes_and_blocking_in_advance(server: LiveServer) -> None:
    with server.client() as http:
        headers = admin_headers(server, http)
        key = api_key(create_key(http, headers))
        resp = http.patch("/exchange-users/org/42/dr smith", json={"blocked": True}, headers=headers)
        assert resp.status_code == 200 and resp.json()["userId"] == "org/42/dr smith"
        assert exchange(http, key, {**USER, "user_id": "org/42/dr smith"}).status_code == 403
        assert http.patch("/exchange-users/unknown", json={"blocked": False}, headers=headers).status_code == 404


def test_managing_exchange_users_needs_the_permissions(server: LiveServer) -> None:
    with server.client() as http:
        headers = admin_headers(server, http, scopes=["ApiKey.*", "ExchangeUser.read"])
        assert http.get("/exchange-users", headers=headers).status_code == 200
        resp = http.patch("/exchange-users/doctor123", json={"blocked": True}, headers=headers)
        assert resp.status_code == 403
        assert http.get("/exchange-users").status_code == 401
        resp = http.patch("/exchange-users/x", json={"blocked": "maybe"}, headers=admin_headers(server, http))
        assert resp.status_code == 400 and resp.json()[0]["loc"] == ["blocked"]


@pytest.fixture
def pair(database_url: str) -> Iterator[tuple[LiveServer, LiveServer]]:
    with LiveServer(make_settings(database_url)) as first, LiveServer(make_settings(database_url)) as second:
        yield first, second


def test_a_block_reaches_another_instance_within_a_second(pair: tuple[LiveServer, LiveServer]) -> None:
    first, second = pair
    with first.client() as a, second.client() as b:
        headers = admin_headers(first, a)
        key = api_key(create_key(a, headers))
        assert exchange(b, key).status_code == 200
        started = time.monotonic()
        assert a.patch("/exchange-users/doctor123", json={"blocked": True}, headers=headers).status_code == 200
        took = wait_until(lambda: exchange(b, key).status_code == 403, timeout=3)
        assert time.monotonic() - started < 1.0, f"second instance refused after {took:.2f}s"
        assert a.patch("/exchange-users/doctor123", json={"blocked": False}, headers=headers).status_code == 200
        wait_until(lambda: exchange(b, key).status_code == 200, timeout=3)


def test_users_block_cli(tmp_path: object) -> None:
    """``users block USER_ID [--tenant SLUG]``, like every other command that acts within a tenant."""
    cli = Cli(tmp_path)  # type: ignore[arg-type]
    cli("init")
    blocked = cli("users", "block", "doc-7", "--notes", "left the clinic", "--json").json()
    assert blocked["userId"] == "doc-7" and blocked["blocked"] is True and blocked["notes"] == "left the clinic"
    listed = cli("users", "exchange-list", "--tenant", "default", "--blocked", "--json").json()
    assert [u["userId"] for u in listed] == ["doc-7"]
    assert cli("users", "unblock", "doc-7", "--tenant", "default", "--json").json()["blocked"] is False
    assert cli("users", "exchange-list", "--blocked", "--json").json() == []
    refused = cli("users", "unblock", "nobody", ok=False)
    assert refused.code != 0 and "Exchange user not found" in refused.stderr
    unknown_tenant = cli("users", "block", "doc-7", "--tenant", "elsewhere", ok=False)
    assert unknown_tenant.code == 1 and "tenant 'elsewhere' does not exist" in unknown_tenant.stderr
    # The old positional form is a usage error, never "block a user called 'default'".
    old_form = cli("users", "block", "default", "doc-8", ok=False)
    assert old_form.code == 2 and "doc-8" in old_form.stderr
