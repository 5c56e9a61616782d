"""The example API: a token with a ``patient`` context (as a SMART launch issues) sees and writes only that
patient's data; a token without one sees every patient its scopes allow; bad input is a clear 4xx."""

from __future__ import annotations

from tests.guard.helpers import ExampleApi, bearer, cc_token
from tests.support import LiveServer


def _patient_token(service: LiveServer, patient: str) -> str:
    async def issue(rt: object) -> str:
        issued = await service.runtime.issuer.issue(
            fmt="jwt", subject="app-user", client_id="smart-app", tenant_id=service.tenant_id or "",
            scopes=["Patient.read", "Observation.read", "Observation.write"], ttl=300,
            extra={"patient": patient, "fhirUser": "Practitioner/p1"})
        return issued.value

    return service.call(issue)


def test_a_patient_scoped_token_sees_only_its_patient(service: LiveServer, api: ExampleApi) -> None:
    staff = bearer(cc_token(service, ["Patient.*", "Observation.*"]))
    with api.client() as http:
        mine = http.post("/fhir/Patient", json={"name": [{"family": "Mine"}]}, headers=staff).json()["id"]
        other = http.post("/fhir/Patient", json={"name": [{"family": "Other"}]}, headers=staff).json()["id"]
        for pid in (mine, other):
            assert http.post("/fhir/Observation", headers=staff, json={
                "status": "final", "subject": {"reference": f"Patient/{pid}"}}).status_code == 201
        assert http.get("/fhir/Patient", headers=staff).json()["total"] == 2
        assert http.get("/fhir/Observation", headers=staff).json()["total"] == 2

        patient = bearer(_patient_token(service, mine))
        listed = http.get("/fhir/Patient", headers=patient).json()
        assert [e["resource"]["id"] for e in listed["entry"]] == [mine]
        assert http.get(f"/fhir/Patient/{mine}", headers=patient).status_code == 200
        assert http.get(f"/fhir/Patient/{other}", headers=patient).status_code == 404
        observations = http.get("/fhir/Observation", headers=patient).json()
        assert [e["resource"]["subject"]["reference"] for e in observations["entry"]] == [f"Patient/{mine}"]
        assert http.get("/fhir/Observation", params={"patient": other}, headers=patient).json()["total"] == 0
        write_other = http.post("/fhir/Observation", headers=patient,
                                json={"status": "final", "subject": {"reference": f"Patient/{other}"}})
        assert write_other.status_code == 403
        write_mine = http.post("/fhir/Observation", headers=patient,
                               json={"status": "final", "subject": {"reference": f"Patient/{mine}"}})
        assert write_mine.status_code == 201


def test_bad_input_is_a_clear_4xx(service: LiveServer, api: ExampleApi) -> None:
    staff = bearer(cc_token(service, ["Patient.*", "Observation.*"]))
    with api.client() as http:
        assert http.get("/fhir/Patient/" + "f" * 32, headers=staff).status_code == 404
        no_subject = http.post("/fhir/Observation", headers=staff, json={"status": "final"})
        assert no_subject.status_code == 400 and no_subject.json()["error"] == "invalid_request"
        unknown = http.post("/fhir/Observation", headers=staff,
                            json={"status": "final", "subject": {"reference": "Patient/" + "0" * 32}})
        assert unknown.status_code == 400
        not_json = http.post("/fhir/Patient", headers={**staff, "Content-Type": "application/json"}, content=b"{")
        assert not_json.status_code == 400 and not_json.json()["error"] == "invalid_request"
        assert http.post("/fhir/Patient", headers=staff, json=[1, 2]).status_code == 400
        assert http.get("/fhir/Patient/" + "a" * 65, headers=staff).status_code == 400
        control = http.post("/fhir/Patient", headers=staff, json={"name": [{"family": "Nul\u0000"}]})
        assert control.status_code == 400 and "control characters" in control.json()["error_description"]
        assert http.get("/fhir/Observation", params={"patient": "a\x01"}, headers=staff).status_code == 400
