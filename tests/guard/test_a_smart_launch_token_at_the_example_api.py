"""A SMART token from a real EHR launch (authorize → sign-in → consent → code → token with PKCE) at the
guarded example API: its ``patient/…`` scopes are judged by the SMART language, its ``patient`` context
limits it to that patient, and a scope it was not granted is a 403 naming what is needed."""

from __future__ import annotations

from pathlib import Path

from tests.codeflow.helpers import Flow
from tests.guard.helpers import ExampleApi, bearer, cc_token, guard_settings, resource_server_client
from tests.smart.helpers import ehr_launch
from tests.support import LiveServer


def test_an_ehr_launch_token_reads_only_its_patient(service: LiveServer, tmp_path: Path) -> None:
    settings = guard_settings(service, resource_server_client(service),
                              audiences=(service.settings.issuer, service.settings.fhir_base))
    with ExampleApi(settings, tmp_path / "fhir.db") as api, api.client() as fhir:
        staff = bearer(cc_token(service, ["Patient.*", "Observation.*"]))
        mine = fhir.post("/fhir/Patient", json={"name": [{"family": "Smith"}]}, headers=staff).json()["id"]
        other = fhir.post("/fhir/Patient", json={"name": [{"family": "Jones"}]}, headers=staff).json()["id"]
        with service.client() as http:
            client_id, launch, _ = ehr_launch(service, http, patient_id=mine)
            flow = Flow(service, http, client_id, scope="openid fhirUser launch patient/Patient.rs")
            body = flow.exchange(flow.code("clinician@example.com", launch=launch,
                                           aud=service.settings.fhir_base)).json()
        assert body["patient"] == mine
        smart = bearer(body["access_token"])
        listed = fhir.get("/fhir/Patient", headers=smart)
        assert listed.status_code == 200, listed.text
        assert [e["resource"]["id"] for e in listed.json()["entry"]] == [mine]
        assert fhir.get(f"/fhir/Patient/{other}", headers=smart).status_code == 404
        refused = fhir.get("/fhir/Observation", headers=smart)  # Observation was not granted
        assert refused.status_code == 403 and "insufficient_scope" in refused.headers["www-authenticate"]
