"""E-mail addresses on special-use and internal domains (``.local``, ``.test``, ``.internal``, dotless) are
valid everywhere an address is taken — ``init``'s admin, users, the session exchange — through the one
validator; what is not an address at all is refused with the reason."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.apikeys.helpers import USER, api_key, create_key, exchange
from tests.apikeys.helpers import admin_headers as key_admin_headers
from tests.people.helpers import PASSWORD, admin_headers, jwt_claims, tokens
from tests.support import LiveServer, make_settings
from tokensmith.emails import InvalidEmail, account_email, email_lookup_key, normalise_email

TOO_LONG = "a" * 64 + "@" + ".".join(c * 63 for c in "bcd") + ".local"  # over 254 characters
INTERNAL = ["admin@hospital.local", "admin@example.test", "ops@corp.internal", "root@localhost",
            "nurse@ward7", "a@home.arpa", "Dr.Who@Clinic.LOCAL", "müller@bücher.local"]
NOT_ADDRESSES = ["not-an-email", "doctor@", "@clinic.local", "a b@clinic.local", "a@@clinic.local",
                 "a@-clinic.local", "a@clinic..local", "x@[127.0.0.1]", TOO_LONG]
SRC = Path(__file__).resolve().parents[2] / "src" / "tokensmith"


@pytest.mark.parametrize("address", INTERNAL)
def test_internal_and_special_use_domains_are_valid(address: str) -> None:
    assert account_email(f"  {address} ") == normalise_email(address).lower()
    assert normalise_email(address).split("@")[1] == normalise_email(address).split("@")[1].lower()


def test_the_normal_form_keeps_the_local_part_for_claims_and_lowers_it_for_accounts() -> None:
    assert normalise_email("Dr.Who@Clinic.LOCAL") == "Dr.Who@clinic.local"
    assert account_email("Dr.Who@Clinic.LOCAL") == "dr.who@clinic.local"


@pytest.mark.parametrize("value", NOT_ADDRESSES)
def test_what_is_not_an_address_is_refused_with_the_reason(value: str) -> None:
    with pytest.raises(InvalidEmail) as refused:
        normalise_email(value)
    assert str(refused.value)
    assert email_lookup_key(value) == value.strip().lower()  # a look-up finds nothing, it does not fail


def test_there_is_one_validator() -> None:
    users = [p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py") if "email_validator" in p.read_text()]
    assert users == ["emails.py"]


@pytest.fixture
def live(sqlite_url: str) -> Iterator[LiveServer]:
    with LiveServer(make_settings(sqlite_url, access_log=False)) as server:
        yield server


def test_users_on_internal_domains_are_created_and_sign_in(live: LiveServer) -> None:
    with live.client() as http:
        admin = admin_headers(live, http, email="admin@hospital.local")
        for address in ("Nurse@Ward7.Hospital.Local", "dev@example.test", "ops@intranet"):
            resp = http.post("/users", json={"email": address, "password": PASSWORD}, headers=admin)
            assert resp.status_code == 201, resp.text
            assert resp.json()["email"] == address.lower()
            assert tokens(http, address)["accessToken"]  # sign-in with the address as typed


@pytest.mark.parametrize("value", ["not-an-address", "a@@hospital.local", "a b@hospital.local"])
def test_users_with_invalid_addresses_are_refused_with_the_reason(live: LiveServer, value: str) -> None:
    with live.client() as http:
        admin = admin_headers(live, http, email="admin@hospital.local")
        resp = http.post("/users", json={"email": value, "password": PASSWORD}, headers=admin)
    assert resp.status_code == 400
    assert "a valid e-mail address is required: " in resp.text


def test_the_session_exchange_accepts_internal_domains(live: LiveServer) -> None:
    with live.client() as http:
        key = api_key(create_key(http, key_admin_headers(live, http)))
        resp = exchange(http, key, {**USER, "email": "Doctor@Praxis.LOCAL"})
        assert resp.status_code == 200, resp.text
        claims = jwt_claims(resp.json()["token"])
    assert claims["email"] == "Doctor@praxis.local"
