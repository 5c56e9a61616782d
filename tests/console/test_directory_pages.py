"""The SMART directory in the console: patients and practitioners listed and searched, added one at a time,
imported from a file in the CLI's format (JSON or CSV, all or nothing, the bad entry named), and a user
linked to one of them (their fhirUser) from the user's page. Refusals are shown next to the field."""

from __future__ import annotations

import html
import json
import re

import httpx

from tests.console.helpers import SAME, client_as, post
from tests.people.helpers import make_user
from tests.support import LiveServer
from tests.web.helpers import csrf_of

PATIENTS = "/console/directory/patients"


def _upload(http: httpx.Client, path: str, filename: str, content: bytes, *,
            token: str | None = None) -> httpx.Response:
    csrf = csrf_of(http.get(PATIENTS).text) if token is None else token
    return http.post(path, data={"csrf_token": csrf}, files={"file": (filename, content, "application/octet-stream")},
                     headers=SAME)


def _error(page: str, field: str) -> str:
    found = re.search(rf'<p class="field-error" id="e-{field}">([^<]*)</p>', page)
    assert found, page[:2000]
    return html.unescape(found.group(1))


def _people(server: LiveServer, kind: str = "Patient") -> list:  # type: ignore[type-arg]
    from tokensmith.smart.directory import list_people

    return server.call(lambda rt: list_people(rt, kind, server.tenant_id))  # type: ignore[no-any-return]


def test_people_are_added_listed_and_searched(server: LiveServer) -> None:
    with client_as(server, "ada@example.com", "admin") as http:
        assert "No patients yet" in http.get(PATIENTS).text
        added = post(http, PATIENTS, {"given": "Alice Mary", "family": "Smith", "birth_date": "1980-04-02",
                                      "person_id": "pat-1"})
        assert added.status_code == 303 and "Added to the directory" in http.get(added.headers["location"]).text
        assert post(http, PATIENTS, {"given": "Bob", "family": "Jones"}).status_code == 303
        listed = http.get(PATIENTS).text
        assert "Patient/pat-1" in listed and "Alice Mary Smith" in listed and "1980-04-02" in listed
        found = http.get(PATIENTS, params={"q": "mary smi"}).text
        assert "Alice Mary Smith" in found and "Bob Jones" not in found
        assert "Alice Mary Smith" in http.get(PATIENTS, params={"q": "pat-1"}).text
        nobody = http.get(PATIENTS, params={"q": "zed"}).text
        assert "Nobody matches" in nobody and "Show everyone" in nobody
        practitioners = http.get("/console/directory/practitioners").text
        assert "No practitioners yet" in practitioners and "Alice" not in practitioners
        assert http.get("/console/directory/doctors").status_code == 404


def test_bad_entries_are_shown_next_to_the_field(server: LiveServer) -> None:
    server.call(lambda rt: __import__("tokensmith.smart.directory", fromlist=["x"]).create_person(
        rt, "Patient", tenant_id=server.tenant_id, given=["A"], family="B", person_id="taken"))
    cases = [({"given": "", "family": ""}, "family", "a name needs a given or a family name"),
             ({"family": "X", "birth_date": "02/04/1980"}, "birth_date", "YYYY"),
             ({"family": "X", "birth_date": "2999-01-01"}, "birth_date", "between 1800 and today"),
             ({"family": "X", "person_id": "no spaces allowed"}, "person_id", "a FHIR id"),
             ({"family": "X", "person_id": "taken"}, "person_id", "exists")]
    with client_as(server, "ada@example.com", "admin") as http:
        for fields, field, message in cases:
            resp = post(http, PATIENTS, fields)
            assert resp.status_code in (400, 409), (fields, resp.status_code)
            assert message in _error(resp.text, field), fields
    assert [p.id for p in _people(server)] == ["taken"]


def test_a_json_then_a_csv_file_is_imported_and_updates_by_id(server: LiveServer) -> None:
    entries = [{"id": "p-1", "name": {"given": ["Ann"], "family": "Lee"}, "birthDate": "1970"},
               {"resourceType": "Patient", "id": "p-2", "name": [{"given": ["Ben"], "family": "Ode"}]}]
    with client_as(server, "ada@example.com", "admin") as http:
        done = _upload(http, PATIENTS + "/import", "people.json", json.dumps(entries).encode())
        assert done.status_code == 303, done.text[:500]
        assert "Imported: 2 added, 0 updated." in http.get(done.headers["location"]).text
        csv_file = b"\xef\xbb\xbfid,given,family,birthDate\r\np-2,Benjamin,Ode,1991-05\r\np-3,Cy,Park,\r\n"
        again = _upload(http, PATIENTS + "/import", "more.CSV", csv_file)
        assert again.status_code == 303
        assert "Imported: 1 added, 1 updated." in http.get(again.headers["location"]).text
    people = {p.id: p for p in _people(server)}
    assert set(people) == {"p-1", "p-2", "p-3"} and people["p-2"].given == ("Benjamin",)
    assert people["p-2"].birth_date == "1991-05" and people["p-1"].birth_date == "1970"


def test_a_bad_file_imports_nothing_and_says_why(server: LiveServer) -> None:
    path = PATIENTS + "/import"
    good = {"name": {"family": "Fine"}}
    with client_as(server, "ada@example.com", "admin") as http:
        bad_entry = _upload(http, path, "p.json", json.dumps([good, {"name": {"family": "X"},
                                                                     "birthDate": "1999-13-01"}]).encode())
        assert bad_entry.status_code == 400
        assert "entry 2 (birthDate): birthDate is not a calendar date" in _error(bad_entry.text, "file")
        assert "Nothing was imported" in _error(bad_entry.text, "file")
        not_json = _upload(http, path, "p.json", b"{oops")
        assert not_json.status_code == 400 and "neither CSV" in _error(not_json.text, "file")
        not_list = _upload(http, path, "p.json", b'{"name": {}}')
        assert "a JSON import is a list of objects" in _error(not_list.text, "file")
        latin1 = _upload(http, path, "p.csv", "id,given,family\nx,Zoë,Ø\n".encode("latin-1"))
        assert latin1.status_code == 400 and "not UTF-8" in _error(latin1.text, "file")
        empty = _upload(http, path, "", b"")
        assert empty.status_code == 400 and "Choose a .json or .csv file" in _error(empty.text, "file")
        over = _upload(http, path, "p.json", b"[" + b" " * (1000 * 1024 + 10_000) + b"]")
        assert over.status_code == 400 and "too large: at most 1000 KiB" in over.text
        huge = _upload(http, path, "p.json", b"[" + b" " * (1024 * 1024) + b"]")
        assert huge.status_code == 413  # over the deployment's body limit: refused before it is read
        not_multipart = post(http, path, {"file": "[]"})
        assert not_multipart.status_code == 400 and "multipart/form-data" in not_multipart.text
        forged = _upload(http, path, "p.json", json.dumps([good]).encode(), token="forged")
        assert forged.status_code == 403
    assert _people(server) == []


def test_a_user_is_linked_to_the_directory_from_the_user_page(server: LiveServer) -> None:
    from tokensmith.people.users import get_user
    from tokensmith.smart.directory import create_person

    doctor = server.call(lambda rt: create_person(rt, "Practitioner", tenant_id=server.tenant_id,
                                                  given=["Greg"], family="House"))
    clinician = make_user(server, "clinician@example.com", role="developer")
    path = f"/console/users/{clinician.id}"
    with client_as(server, "ada@example.com", "admin") as http:
        assert 'id="f-fhir_user"' in http.get(path).text
        unknown = post(http, path + "/fhir-user", {"fhir_user": "Practitioner/nobody"})
        assert unknown.status_code == 400 and "not in this tenant's directory" in _error(unknown.text, "fhir_user")
        shape = post(http, path + "/fhir-user", {"fhir_user": "Device/1"})
        assert shape.status_code == 400 and "Practitioner/<id> or Patient/<id>" in _error(shape.text, "fhir_user")
        linked = post(http, path + "/fhir-user", {"fhir_user": f"Practitioner/{doctor.id}"})
        assert linked.status_code == 303
        page = http.get(linked.headers["location"]).text
        assert "The user is linked to the directory" in page and f'value="Practitioner/{doctor.id}"' in page
        assert server.call(lambda rt: get_user(rt, clinician.id)).fhir_user == f"Practitioner/{doctor.id}"
        assert post(http, path + "/fhir-user", {"fhir_user": ""}).status_code == 303
        assert post(http, "/console/users/nobody/fhir-user", {"fhir_user": ""}).status_code == 404
    assert server.call(lambda rt: get_user(rt, clinician.id)).fhir_user is None
