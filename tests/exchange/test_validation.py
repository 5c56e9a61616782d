"""The 400 list of ``POST /api/v1/token/``: every validation rule, over HTTP, with the exact shapes; and the
provider-number rule property-tested."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

from tests.apikeys.helpers import USER, admin_headers, api_key, create_key, exchange
from tests.support import LiveServer
from tokensmith.errors import ValidationFailed
from tokensmith.exchange.request import PROVIDER_TYPES, normalise_provider_number, parse_session_request

ALL_PROVIDER_TYPES = (
    "anesthesiologist cardiologist dermatologist dietitian emergency_doctor endocrinologist gastroenterologist "
    "general_practitioner geriatrician gynecologist hematologist home_nurse hospital_nurse infectiologist "
    "nephrologist neurologist nursing_home_nurse oncologist ophthalmologist orthopedic otorhinolaryngologist "
    "pediatrician physiotherapist practice_nurse psychiatrist psychologist pulmonologist radiologist "
    "rheumatologist surgeon speech_language_pathologist stomatologist urologist"
).split()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    from tests.support import make_settings

    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('validation')}/t.db"
    with LiveServer(make_settings(url, access_log=False)) as server, server.client() as http:
        key = api_key(create_key(http, admin_headers(server, http), rateLimit=1_000_000))
        yield server, key


def post(live: tuple[LiveServer, str], body: object, **kw: object) -> tuple[int, object]:
    server, key = live
    with server.client() as http:
        resp = exchange(http, key, body, **kw)  # type: ignore[arg-type]
    return resp.status_code, resp.json()


def test_missing_organisation_is_the_documented_example(live: tuple[LiveServer, str]) -> None:
    body = {k: v for k, v in USER.items() if k != "organisation"}
    assert post(live, body) == (400, [{"loc": ["organisation"], "msg": "Field required", "type": "missing"}])


def test_every_missing_required_field_is_listed(live: tuple[LiveServer, str]) -> None:
    status, errors = post(live, {})
    assert status == 400
    assert errors == [{"loc": [name], "msg": "Field required", "type": "missing"}
                      for name in ("user_id", "first_name", "last_name", "organisation")]


@pytest.mark.parametrize("body", [b"{not json", b"", b"{\"user_id\": \"a\",}", b"\xff\xfe"])
def test_malformed_json_is_a_400_list(live: tuple[LiveServer, str], body: bytes) -> None:
    status, errors = post(live, body)
    assert status == 400
    assert isinstance(errors, list) and len(errors) == 1
    assert errors[0]["loc"] == [] and errors[0]["type"] == "json_invalid" and errors[0]["msg"]


@pytest.mark.parametrize("body", [b"[]", b"\"text\"", b"42", b"null"])
def test_a_body_that_is_not_an_object_is_a_400_list(live: tuple[LiveServer, str], body: bytes) -> None:
    status, errors = post(live, body)
    assert status == 400
    assert errors == [{"loc": [], "msg": "Input should be an object", "type": "model_type"}]


@pytest.mark.parametrize(("field", "value"), [
    ("user_id", 123), ("user_id", None), ("first_name", ["a"]), ("last_name", {"a": 1}), ("organisation", True),
    ("email", 5), ("healthcare_provider_identification_number", 12345678901),
])
def test_wrong_types(live: tuple[LiveServer, str], field: str, value: object) -> None:
    status, errors = post(live, {**USER, field: value})
    assert status == 400
    assert errors == [{"loc": [field], "msg": "Input should be a valid string", "type": "string_type"}]


def test_blank_required_fields(live: tuple[LiveServer, str]) -> None:
    status, errors = post(live, {**USER, "user_id": "   ", "first_name": ""})
    assert status == 400
    assert errors == [
        {"loc": ["user_id"], "msg": "String should have at least 1 character", "type": "string_too_short"},
        {"loc": ["first_name"], "msg": "String should have at least 1 character", "type": "string_too_short"},
    ]


def test_too_long_fields(live: tuple[LiveServer, str]) -> None:
    status, errors = post(live, {**USER, "user_id": "u" * 201, "organisation": "o" * 301})
    assert status == 400
    assert [(e["loc"], e["type"]) for e in errors] == [(["user_id"], "string_too_long"),  # type: ignore[union-attr]
                                                       (["organisation"], "string_too_long")]


@pytest.mark.parametrize("email", ["not-an-email", "doctor@", "@123.com", "a b@c.com", "doctor@@123.com"])
def test_bad_email(live: tuple[LiveServer, str], email: str) -> None:
    status, errors = post(live, {**USER, "email": email})
    assert status == 400
    assert len(errors) == 1 and errors[0]["loc"] == ["email"] and errors[0]["type"] == "value_error"  # type: ignore[index]
    assert errors[0]["msg"].startswith("value is not a valid email address")  # type: ignore[index]


def test_unknown_provider_type(live: tuple[LiveServer, str]) -> None:
    status, errors = post(live, {**USER, "healthcare_provider_type": "wizard"})
    assert status == 400
    assert len(errors) == 1  # type: ignore[arg-type]
    assert errors[0]["loc"] == ["healthcare_provider_type"] and errors[0]["type"] == "literal_error"  # type: ignore[index]
    assert "'general_practitioner'" in errors[0]["msg"]  # type: ignore[index]


def test_the_33_provider_types_are_accepted(live: tuple[LiveServer, str]) -> None:
    assert sorted(PROVIDER_TYPES) == sorted(ALL_PROVIDER_TYPES) and len(PROVIDER_TYPES) == 33
    server, key = live
    with server.client() as http:
        jwks = KeySet.import_key_set(http.get("/.well-known/jwks.json").json())
        for provider_type in ALL_PROVIDER_TYPES:
            resp = exchange(http, key, {**USER, "healthcare_provider_type": provider_type})
            assert resp.status_code == 200, (provider_type, resp.text)
            claims = jose_jwt.decode(resp.json()["token"], jwks, algorithms=["ES256"]).claims
            assert claims["healthcare_provider_type"] == provider_type


@pytest.mark.parametrize(("given", "stored"), [
    ("12345678901", "12345678901"), ("1-23456-78-901", "12345678901"), ("1.23456.78.901", "12345678901"),
    ("1/23456/78/901", "12345678901"), ("1 23456 78 901", "12345678901"), ("1 - 23456 / 78.901", "12345678901"),
    ("  AB-12 ", "AB12"),
])
def test_provider_number_separators_are_removed(live: tuple[LiveServer, str], given: str, stored: str) -> None:
    server, key = live
    with server.client() as http:
        resp = exchange(http, key, {**USER, "healthcare_provider_identification_number": given})
        assert resp.status_code == 200, resp.text
        jwks = KeySet.import_key_set(http.get("/.well-known/jwks.json").json())
    claims = jose_jwt.decode(resp.json()["token"], jwks, algorithms=["ES256"]).claims
    assert claims["healthcare_provider_identification_number"] == stored


@pytest.mark.parametrize("number", ["-123", "123-", "12_34", "12,34", "1234é", "12#", "..", "12\t34"])
def test_provider_number_must_be_alphanumeric_between_separators(live: tuple[LiveServer, str], number: str) -> None:
    status, errors = post(live, {**USER, "healthcare_provider_identification_number": number})
    assert status == 400
    assert len(errors) == 1  # type: ignore[arg-type]
    assert errors[0]["loc"] == ["healthcare_provider_identification_number"]  # type: ignore[index]
    assert errors[0]["type"] == "value_error"  # type: ignore[index]


def test_optional_fields_may_be_null_or_empty(live: tuple[LiveServer, str]) -> None:
    body = {**USER, "email": None, "healthcare_provider_type": "", "healthcare_provider_identification_number": " "}
    status, _ = post(live, body)
    assert status == 200


def test_unknown_fields_are_ignored_and_errors_come_together(live: tuple[LiveServer, str]) -> None:
    assert post(live, {**USER, "role": "admin"})[0] == 200
    status, errors = post(live, {"user_id": 7, "email": "x", "healthcare_provider_type": "x",
                                 "healthcare_provider_identification_number": "!"})
    assert status == 400
    assert [e["loc"][0] for e in errors] == [  # type: ignore[union-attr,index]
        "user_id", "first_name", "last_name", "organisation", "healthcare_provider_identification_number", "email",
        "healthcare_provider_type"]


def test_content_type_must_be_json(live: tuple[LiveServer, str]) -> None:
    server, key = live
    with server.client() as http:
        resp = http.post("/api/v1/token/", data=USER, headers={"X-Api-Key": key})
        assert resp.status_code == 400
        assert resp.json() == [{"loc": [], "msg": "Content-Type must be application/json", "type": "content_type"}]
        ok = http.post("/api/v1/token/", json=USER, headers={"X-Api-Key": key,
                                                             "Content-Type": "application/json; charset=utf-8"})
        assert ok.status_code == 200


def test_oversized_body_is_refused(live: tuple[LiveServer, str]) -> None:
    status, body = post(live, {**USER, "padding": "x" * 20_000})
    assert status == 413 and body == {"error": "Request body too large"}


def test_a_body_over_the_service_limit_is_refused_in_the_exchange_shape(live: tuple[LiveServer, str]) -> None:
    """The service's own bound (``max_request_body``, refused before anything is read) answers the exchange
    in the exchange's contract, not in the OAuth shape of the other endpoints."""
    status, body = post(live, b"x" * (2 * 1024 * 1024))
    assert status == 413 and body == {"error": "Request body too large"}


def test_a_chunked_body_over_the_exchange_limit_is_cut_off(live: tuple[LiveServer, str]) -> None:
    """Without ``Content-Length`` the body is counted as it arrives and stopped at the exchange's 16 KiB."""

    def chunks() -> Iterator[bytes]:
        for _ in range(64):
            yield b" " * 1024

    server, key = live
    with server.client() as http:
        resp = http.post("/api/v1/token/", content=chunks(),
                         headers={"X-Api-Key": key, "Content-Type": "application/json"})
    assert "content-length" not in resp.request.headers
    assert resp.status_code == 413 and resp.json() == {"error": "Request body too large"}


# ---- the rule itself, property-tested ----

alnum = st.text(alphabet="ABCXYZabcxyz0123456789", min_size=1, max_size=6)
separators = st.text(alphabet=" .-/", min_size=1, max_size=3)


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(alnum, min_size=1, max_size=6), seps=st.lists(separators, min_size=5, max_size=5))
def test_separators_between_characters_are_removed(parts: list[str], seps: list[str]) -> None:
    value = parts[0] + "".join(sep + part for sep, part in zip(seps, parts[1:], strict=False))
    assert normalise_provider_number(value) == "".join(parts)


@settings(max_examples=300, deadline=None)
@given(value=st.text(max_size=20))
def test_what_remains_is_always_alphanumeric(value: str) -> None:
    try:
        result = normalise_provider_number(value)
    except ValueError:
        return
    assert result and result.isascii() and result.isalnum()


def test_parse_reports_through_the_error_model() -> None:
    with pytest.raises(ValidationFailed) as info:
        parse_session_request(b'{"user_id": "a"}')
    assert info.value.status == 400 and [e["loc"] for e in info.value.body()] == [
        ["first_name"], ["last_name"], ["organisation"]]
