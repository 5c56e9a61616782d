"""The patient and practitioner directory (``/smart/patients``, ``/smart/practitioners``), users linked
to it (``PATCH /users/{id}`` ``fhirUser``) and EHR launch values (``POST /smart/launch``,
``consume_launch``: single-use, short-lived, bound to an app) — on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from tests.people.helpers import make_user
from tests.smart.helpers import admin_headers
from tests.support import LiveServer, make_settings
from tokensmith.clock import ManualClock
from tokensmith.errors import InvalidRequest
from tokensmith.smart.directory import search_patients
from tokensmith.smart.launch import LaunchContext, consume_launch

ALICE = {"name": {"given": ["Alice", "May"], "family": "Smith"}, "birthDate": "1980-04-02", "id": "alice-1"}


@pytest.mark.parametrize("path", ["/smart/patients", "/smart/practitioners"])
def test_directory_crud(any_server: LiveServer, path: str) -> None:
    with any_server.client() as http:
        headers = admin_headers(any_server, http)
        created = http.post(path, json=ALICE, headers=headers)
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["id"] == "alice-1" and body["name"] == ALICE["name"] and body["birthDate"] == "1980-04-02"
        assert body["resourceType"] == ("Patient" if path.endswith("patients") else "Practitioner")
        generated = http.post(path, json={"name": {"family": "Jones"}}, headers=headers).json()
        assert len(generated["id"]) == 36
        assert http.post(path, json=ALICE, headers=headers).status_code == 409
        assert [p["id"] for p in http.get(path, headers=headers).json()] == [generated["id"], "alice-1"]
        assert [p["id"] for p in http.get(path, params={"q": "ali smi"}, headers=headers).json()] == ["alice-1"]
        assert http.get(path, params={"q": "bob"}, headers=headers).json() == []
        patched = http.patch(f"{path}/alice-1", json={"birthDate": None, "name": {"given": ["Al"], "family": "S"}},
                             headers=headers)
        assert patched.status_code == 200 and patched.json()["birthDate"] is None
        assert patched.json()["name"] == {"given": ["Al"], "family": "S"}
        assert http.get(f"{path}/alice-1", headers=headers).json()["name"]["given"] == ["Al"]
        assert http.delete(f"{path}/alice-1", headers=headers).status_code == 204
        assert http.get(f"{path}/alice-1", headers=headers).status_code == 404


@pytest.mark.parametrize("body", [
    {"name": {}},
    {"name": {"given": ["  "]}},
    {"name": {"family": "X"}, "birthDate": "1980-13-01"},
    {"name": {"family": "X"}, "birthDate": "2999-01-01"},
    {"name": {"family": "X"}, "birthDate": "yesterday"},
    {"name": {"family": "X"}, "id": "has space"},
    {"name": {"family": "X"}, "id": "x" * 65},
    {"name": {"family": "X\x01"}},
    {"name": {"family": "X"}, "extra": 1},
])
def test_invalid_entries_are_400(server: LiveServer, body: dict[str, object]) -> None:
    with server.client() as http:
        resp = http.post("/smart/patients", json=body, headers=admin_headers(server, http))
        assert resp.status_code == 400, resp.text
        assert isinstance(resp.json(), list)


def test_directory_permissions_and_tenants(server: LiveServer) -> None:
    from tokensmith.tenants.provisioning import ensure_tenant

    with server.client() as http:
        reader = admin_headers(server, http, scopes=["Directory.read"])
        assert http.post("/smart/patients", json=ALICE, headers=reader).status_code == 403
        assert http.get("/smart/patients", headers=reader).status_code == 200
        assert http.post("/smart/launch", json={"patient": "x"}, headers=reader).status_code == 403
        http.post("/smart/patients", json=ALICE, headers=admin_headers(server, http))
        other = server.call(lambda rt: ensure_tenant(rt, "other"))
        record, secret = server.create_client(scopes=["Directory.*"], name="o", tenant_id=other.id)
        token = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                          auth=(record.client_id, secret)).json()["access_token"]
        assert http.get("/smart/patients/alice-1", headers={"Authorization": f"Bearer {token}"}).status_code == 404


def test_search_patients_for_the_picker(server: LiveServer) -> None:
    with server.client() as http:
        headers = admin_headers(server, http)
        for given, family in [("Alice", "Smith"), ("Bob", "Smithson"), ("Carol", "Jones")]:
            http.post("/smart/patients", json={"name": {"given": [given], "family": family}, "id": given.lower()},
                      headers=headers)
    found = server.call(lambda rt: search_patients(rt, server.tenant_id or "", "smith"))
    assert [p.id for p in found] == ["alice", "bob"] and found[0].display == "Alice Smith"
    assert [p.id for p in server.call(lambda rt: search_patients(rt, server.tenant_id or "", "carol"))] == ["carol"]
    assert [p.id for p in server.call(lambda rt: search_patients(rt, server.tenant_id or "", "%"))] == []


def test_users_link_to_the_directory(any_server: LiveServer) -> None:
    user = make_user(any_server, "dr@example.com", role="member")
    with any_server.client() as http:
        headers = admin_headers(any_server, http, scopes=["*"])  # editing a user needs the user's permissions
        http.post("/smart/practitioners", json={**ALICE, "id": "dr-1"}, headers=headers)
        resp = http.patch(f"/users/{user.id}", json={"fhirUser": "Practitioner/dr-1"}, headers=headers)
        assert resp.status_code == 200, resp.text
        assert resp.json()["fhirUser"] == "Practitioner/dr-1"
        assert http.get(f"/users/{user.id}", headers=headers).json()["fhirUser"] == "Practitioner/dr-1"
        for bad in ["Practitioner/nobody", "Patient/dr-1", "Organization/1", "dr-1"]:
            refused = http.patch(f"/users/{user.id}", json={"fhirUser": bad}, headers=headers)
            assert refused.status_code == 400 and refused.json()[0]["loc"] == ["fhirUser"], bad
        assert http.delete("/smart/practitioners/dr-1", headers=headers).status_code == 409
        unlinked = http.patch(f"/users/{user.id}", json={"fhirUser": None}, headers=headers)
        assert unlinked.json()["fhirUser"] is None
        assert http.delete("/smart/practitioners/dr-1", headers=headers).status_code == 204


def _launch(server: LiveServer, http: object, body: dict[str, object]) -> dict[str, object]:
    import httpx

    assert isinstance(http, httpx.Client)
    resp = http.post("/smart/launch", json=body, headers=admin_headers(server, http))
    assert resp.status_code == 201, resp.text
    assert resp.headers["cache-control"] == "no-store"
    minted: dict[str, object] = resp.json()
    return minted


def test_a_launch_is_single_use_short_lived_and_bound_to_its_app(database_url: str) -> None:
    clock = ManualClock()
    with LiveServer(make_settings(database_url), clock=clock) as server, server.client() as http:
        headers = admin_headers(server, http)
        http.post("/smart/patients", json=ALICE, headers=headers)
        app = http.post("/smart/apps", headers=headers, json={
            "name": "a", "redirectUris": ["https://a.example/cb"], "scopes": ["launch"], "isConfidential": False,
        }).json()
        other = http.post("/smart/apps", headers=headers, json={
            "name": "b", "redirectUris": ["https://b.example/cb"], "scopes": ["launch"], "isConfidential": False,
        }).json()
        minted = _launch(server, http, {"patient": "alice-1", "encounter": "enc-7", "clientId": app["clientId"]})
        assert minted["expiresIn"] == 300 and isinstance(minted["launch"], str) and len(minted["launch"]) >= 40
        value = str(minted["launch"])
        assert value.replace("-", "").replace("_", "").isalnum()  # URL-safe as it is
        with pytest.raises(InvalidRequest):
            server.call(lambda rt: consume_launch(rt, value, other["clientId"]))  # another app's
        context = server.call(lambda rt: consume_launch(rt, value, app["clientId"]))
        assert context == LaunchContext(server.tenant_id or "", "alice-1", "enc-7", app["clientId"])
        with pytest.raises(InvalidRequest):
            server.call(lambda rt: consume_launch(rt, value, app["clientId"]))  # used
        late = str(_launch(server, http, {"patient": "alice-1"})["launch"])
        clock.advance(301)
        with pytest.raises(InvalidRequest):
            server.call(lambda rt: consume_launch(rt, late, app["clientId"]))  # expired
        with pytest.raises(InvalidRequest):
            server.call(lambda rt: consume_launch(rt, "made-up", app["clientId"]))
        stored = server.call(lambda rt: _stored_hashes(rt))
        assert value not in str(stored) and len(stored) == 2


async def _stored_hashes(rt: object) -> list[str]:
    from sqlalchemy import select

    from tokensmith.runtime import Runtime
    from tokensmith.storage.models import SmartLaunch

    assert isinstance(rt, Runtime)
    async with rt.db.session() as session:
        return list((await session.execute(select(SmartLaunch.value_hash))).scalars())


def test_concurrent_uses_of_one_launch_let_exactly_one_through(database_url: str) -> None:
    with LiveServer(make_settings(database_url)) as server, server.client() as http:
        headers = admin_headers(server, http)
        http.post("/smart/patients", json=ALICE, headers=headers)
        app = http.post("/smart/apps", headers=headers, json={
            "name": "a", "redirectUris": ["https://a.example/cb"], "scopes": ["launch"], "isConfidential": False,
        }).json()
        value = str(_launch(server, http, {"patient": "alice-1"})["launch"])

        async def race(rt: object) -> list[object]:
            from tokensmith.runtime import Runtime

            assert isinstance(rt, Runtime)
            return list(await asyncio.gather(*[consume_launch(rt, value, app["clientId"]) for _ in range(5)],
                                             return_exceptions=True))

        outcomes = server.call(race)
        assert sum(isinstance(o, LaunchContext) for o in outcomes) == 1
        assert all(isinstance(o, LaunchContext | InvalidRequest) for o in outcomes)


def test_launch_needs_a_known_patient_and_app(server: LiveServer) -> None:
    with server.client() as http:
        headers = admin_headers(server, http)
        assert http.post("/smart/launch", json={"patient": "nobody"}, headers=headers).status_code == 404
        http.post("/smart/patients", json=ALICE, headers=headers)
        resp = http.post("/smart/launch", json={"patient": "alice-1", "clientId": "nope"}, headers=headers)
        assert resp.status_code == 400 and resp.json()[0]["loc"] == ["clientId"]
        assert http.post("/smart/launch", json={"patient": "a b"}, headers=headers).status_code == 400
