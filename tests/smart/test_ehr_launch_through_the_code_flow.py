"""SMART launch contexts through the code flow over HTTP. EHR launch: ``POST /smart/launch`` binds a
patient (and an encounter) to a launch value, the app sends it with the ``launch`` scope, and the token
response carries ``patient``, ``encounter``, ``need_patient_banner`` and the signed-in user's ``fhirUser``
(also in the ID token, the access token and introspection); a used launch value is refused. Standalone
launch with ``launch/patient``: a clinician picks the patient on the consent page (every time; an unknown
choice is refused), a user linked to a Patient gets their own; ``launch/encounter`` alone is refused."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from tests.codeflow.helpers import SAME, Flow, code_client, query_of
from tests.people.helpers import admin_headers as user_admin_headers
from tests.people.helpers import jwt_claims, make_user, user_row
from tests.smart.helpers import ehr_launch
from tests.support import LiveServer, make_settings
from tests.web.helpers import csrf_of

SCOPE = "openid fhirUser launch patient/Patient.rs"


@pytest.fixture
def live(database_url: str) -> Any:
    with LiveServer(make_settings(database_url)) as server:
        yield server


def test_an_ehr_launch_gives_the_patient_encounter_and_fhir_user(live: LiveServer) -> None:
    with live.client() as http:
        client_id, launch, doctor = ehr_launch(live, http)
        flow = Flow(live, http, client_id, scope=SCOPE)
        resp = flow.exchange(flow.code("clinician@example.com", launch=launch, aud=live.settings.fhir_base))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    patient_id = body["patient"]
    assert body["encounter"] == "enc-1" and body["need_patient_banner"] is True
    assert body["fhirUser"] == f"Practitioner/{doctor}"
    assert jwt_claims(body["id_token"])["fhirUser"] == f"Practitioner/{doctor}"
    with live.client() as http:
        seen = http.post("/oauth/introspect", data={"token": body["access_token"]}, auth=_rs(live))
    assert (seen.json()["patient"], seen.json()["encounter"]) == (patient_id, "enc-1")
    assert jwt_claims(body["access_token"])["patient"] == patient_id  # the guard reads the context locally


def _rs(live: LiveServer) -> tuple[str, str]:
    record, secret = live.create_client(scopes=["api.read"], name="resource server")
    return record.client_id, secret or ""


def test_a_used_launch_value_is_refused(live: LiveServer) -> None:
    with live.client() as http:
        client_id, launch, _ = ehr_launch(live, http)
        first = Flow(live, http, client_id, scope=SCOPE)
        first.code("clinician@example.com", launch=launch)
        again = Flow(live, http, client_id, scope=SCOPE).authorize(launch=launch)
    assert again.status_code == 303
    got = query_of(again.headers["location"])
    assert got["error"] == "invalid_request" and "code" not in got


def test_a_standalone_launch_lets_the_clinician_pick_the_patient(live: LiveServer) -> None:
    with live.client() as http:
        client_id, _, _ = ehr_launch(live, http, patient_id="alice-1")
        flow = Flow(live, http, client_id, scope="openid launch/patient patient/Patient.rs")
        page = flow.sign_in_from(flow.authorize(), "clinician@example.com")
        assert page.status_code == 200 and "Choose the patient" in page.text and "Alice Smith" in page.text
        searched = flow.authorize(patient_query="nobody-like-this")
        assert searched.status_code == 200 and "No patient matches" in searched.text
        request = re.search(r'name="request" value="([^"]*)"', page.text)
        assert request is not None
        form = {"csrf_token": csrf_of(page.text), "request": html.unescape(request.group(1)), "decision": "allow"}
        unchosen = http.post("/oauth/authorize", data=form, headers=SAME)
        assert unchosen.status_code == 200 and "Choose a patient to allow access" in unchosen.text
        chosen = http.post("/oauth/authorize", data={**form, "patient": "alice-1"}, headers=SAME)
        assert chosen.status_code == 303, chosen.text
        body = flow.exchange(query_of(chosen.headers["location"])["code"]).json()
        assert body["patient"] == "alice-1" and body["need_patient_banner"] is True
        # the consent is remembered, the choice is asked again (each launch picks its patient)
        again = flow.authorize()
        assert again.status_code == 200 and "Choose the patient" in again.text
        unknown = http.post("/oauth/authorize", data={**form, "csrf_token": csrf_of(again.text),
                                                      "patient": "not-in-the-directory"}, headers=SAME)
        got = query_of(unknown.headers["location"])
        assert got["error"] == "invalid_request" and "code" not in got


def test_a_patient_signing_in_gets_their_own_context(live: LiveServer) -> None:
    with live.client() as http:
        client_id, _, _ = ehr_launch(live, http, patient_id="alice-1")
        make_user(live, "alice@example.com", role="developer")
        linked = http.patch(f"/users/{user_row(live, 'alice@example.com').id}", json={"fhirUser": "Patient/alice-1"},
                            headers=user_admin_headers(live, http, email="root@example.com"))
        assert linked.status_code == 200, linked.text
        flow = Flow(live, http, client_id, scope="openid fhirUser launch/patient patient/Patient.rs")
        body = flow.exchange(flow.code("alice@example.com")).json()
    assert body["patient"] == "alice-1" and body["fhirUser"] == "Patient/alice-1"


def test_a_standalone_encounter_context_is_refused(live: LiveServer) -> None:
    record, _ = code_client(live, scopes=["patient/*.rs"])
    make_user(live, "clinician@example.com", role="developer")
    with live.client() as http:
        flow = Flow(live, http, record.client_id, scope="openid launch/encounter patient/Patient.rs")
        resp = flow.sign_in_from(flow.authorize(), "clinician@example.com")
        if resp.status_code == 200:
            resp = flow.answer_consent(resp)
    assert resp.status_code == 303
    got = query_of(resp.headers["location"])
    assert got["error"] == "invalid_request" and "code" not in got and "encounter" in got["error_description"]
