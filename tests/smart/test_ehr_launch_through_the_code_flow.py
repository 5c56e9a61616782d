"""An EHR launch end to end over HTTP: ``POST /smart/launch`` binds a patient (and an encounter) to a
launch value, the app sends it to ``/smart/authorize`` with the ``launch`` scope, and the token response
carries ``patient``, ``encounter``, ``need_patient_banner`` and the signed-in user's ``fhirUser`` (also in
the ID token). A used launch value is refused, and so is a standalone ``launch/patient`` (no patient picker
yet) — as redirected ``invalid_request`` errors, never a token without the context asked for."""

from __future__ import annotations

from typing import Any

import pytest

from tests.codeflow.helpers import Flow, code_client, query_of
from tests.people.helpers import jwt_claims, make_user
from tests.smart.helpers import ehr_launch
from tests.support import LiveServer, make_settings

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


def test_a_standalone_patient_context_is_refused_until_the_picker_exists(live: LiveServer) -> None:
    record, _ = code_client(live, scopes=["patient/*.rs"])
    make_user(live, "clinician@example.com", role="developer")
    with live.client() as http:
        flow = Flow(live, http, record.client_id, scope="openid launch/patient patient/Patient.rs")
        resp = flow.authorize()
        resp = flow.sign_in_from(resp, "clinician@example.com")
        if resp.status_code == 200:
            resp = flow.answer_consent(resp)
    assert resp.status_code == 303
    got = query_of(resp.headers["location"])
    assert got["error"] == "invalid_request" and "code" not in got
    assert "standalone" in got["error_description"]
