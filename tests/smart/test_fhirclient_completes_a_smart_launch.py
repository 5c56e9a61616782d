"""The SMART client library ``fhirclient`` (PyPI, unmodified) launches against tokensmith. It is given
only the FHIR base URL (the example API, which ``TOKENSMITH_FHIR_BASE_URL`` names) and finds the
authorization server the way it does: ``<api_base>/metadata``, the SMART ``oauth-uris`` extension of
the CapabilityStatement. fhirclient 4.x does not read ``/.well-known/smart-configuration``. It builds
the authorize URL (with PKCE S256, which the server requires), the user's browser is played by an httpx
client (cookies, the pages' CSRF tokens), then fhirclient exchanges the code, reads the patient from the
FHIR API with the token, and refreshes. Standalone (the user picks the patient) and EHR launch."""

from __future__ import annotations

import base64
import hashlib
import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fhirclient.client import FHIRClient

from tests.codeflow.helpers import REDIRECT, SAME, Flow, query_of
from tests.guard.helpers import ExampleApi, bearer, cc_token, guard_settings, resource_server_client
from tests.smart.helpers import ehr_launch
from tests.support import LiveServer, loopback_socket, make_settings
from tests.web.helpers import csrf_of

SCOPE = "openid fhirUser offline_access patient/Patient.rs"
APP_SCOPES = ("openid", "fhirUser", "launch", "launch/patient", "offline_access", "patient/*.rs")


@pytest.fixture
def stack(sqlite_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, ExampleApi]]:
    """The token service (its issuer is its real URL: fhirclient calls the token endpoint it is told)
    and the example FHIR API at the FHIR base URL, guarded against the service."""
    service_sock, api_sock = loopback_socket(), loopback_socket()
    issuer = f"http://127.0.0.1:{service_sock.getsockname()[1]}"
    fhir_base = f"http://127.0.0.1:{api_sock.getsockname()[1]}/fhir"
    with LiveServer(make_settings(sqlite_url, issuer=issuer, fhir_base_url=fhir_base), sock=service_sock) as service:
        guard = guard_settings(service, resource_server_client(service), audiences=(issuer, fhir_base))
        with ExampleApi(guard, tmp_path / "fhir.db", sock=api_sock) as api:
            yield service, api


def _patient_in_both(service: LiveServer, api: ExampleApi) -> str:
    """Alice Smith in the FHIR API; the service's directory gets her under the same id (ehr_launch)."""
    staff = bearer(cc_token(service, ["Patient.*"]))
    with api.client() as fhir:
        made = fhir.post("/fhir/Patient", json={"name": [{"given": ["Alice"], "family": "Smith"}]}, headers=staff)
    assert made.status_code == 201, made.text
    patient_id: str = made.json()["id"]
    return patient_id


def _browser(service: LiveServer, http: httpx.Client, authorize_url: str, patient: str | None) -> str:
    """The user's part: open the URL, sign in, allow (choosing ``patient`` on the picker); the callback URL."""
    resp = http.get(authorize_url)
    page = Flow(service, http, "unused").sign_in_from(resp, "clinician@example.com")
    assert page.status_code == 200 and "Allow" in page.text, page.text
    assert ("Choose the patient" in page.text) is (patient is not None)
    action = re.search(r'<form method="post" action="([^"]+)"', page.text)
    request = re.search(r'name="request" value="([^"]*)"', page.text)
    assert action is not None and request is not None
    form = {"csrf_token": csrf_of(page.text), "request": html.unescape(request.group(1)), "decision": "allow",
            **({"patient": patient} if patient else {})}
    answer = http.post(action.group(1), data=form, headers=SAME)
    assert answer.status_code == 303, answer.text
    location: str = answer.headers["location"]
    assert location.startswith(REDIRECT + "?"), location
    return location


def _assert_pkce_s256(client: FHIRClient, authorize_url: str) -> None:
    sent = query_of(authorize_url)
    verifier: str = client.server.auth.code_verifier
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert sent["code_challenge_method"] == "S256" and sent["code_challenge"] == expected


def _client(service: LiveServer, client_id: str, **settings: Any) -> FHIRClient:
    client = FHIRClient(settings={"app_id": client_id, "api_base": service.settings.fhir_base,
                                  "redirect_uri": REDIRECT, "scope": SCOPE, **settings})
    assert client.prepare() is False  # it read the CapabilityStatement; not authorized yet
    assert client.server.auth.auth_type == "oauth2"
    return client


def test_fhirclient_runs_a_standalone_launch_reads_the_patient_and_refreshes(
        stack: tuple[LiveServer, ExampleApi]) -> None:
    service, api = stack
    mine = _patient_in_both(service, api)
    with service.client() as http:
        client_id, _, doctor = ehr_launch(service, http, patient_id=mine, scopes=APP_SCOPES)
        client = _client(service, client_id)
        url = client.authorize_url
        assert url.startswith(f"{service.settings.issuer}/oauth/authorize?")
        sent = query_of(url)
        assert sent["aud"] == service.settings.fhir_base and sent["scope"] == f"launch/patient {SCOPE}"
        _assert_pkce_s256(client, url)
        client.handle_callback(_browser(service, http, url, patient=mine))
    assert client.ready and client.patient_id == mine
    context = client.launch_context
    assert context["need_patient_banner"] is True and context["fhirUser"] == f"Practitioner/{doctor}"
    assert set(context["scope"].split()) == {"launch/patient", *SCOPE.split()}
    patient = client.patient  # GET <fhir base>/Patient/<id> with the access token, at the example API
    assert patient is not None and patient.id == mine and client.human_name(patient.name[0]) == "Alice Smith"
    first = client.server.auth.access_token
    assert client.reauthorize() is True  # the refresh_token grant
    assert client.server.auth.access_token != first and client.patient_id == mine


def test_fhirclient_runs_an_ehr_launch(stack: tuple[LiveServer, ExampleApi]) -> None:
    service, api = stack
    mine = _patient_in_both(service, api)
    with service.client() as http:
        client_id, launch, _ = ehr_launch(service, http, patient_id=mine, scopes=APP_SCOPES)
        client = _client(service, client_id, launch_token=launch)
        url = client.authorize_url
        assert query_of(url)["launch"] == launch and query_of(url)["scope"] == f"launch {SCOPE}"
        client.handle_callback(_browser(service, http, url, patient=None))
    assert client.patient_id == mine and client.launch_context["encounter"] == "enc-1"
    patient = client.patient
    assert patient is not None and patient.id == mine
