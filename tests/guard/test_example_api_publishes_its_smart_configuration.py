"""``GET /fhir/.well-known/smart-configuration`` of the example API: SMART App Launch 2.2 clients discover
the authorization server at ``{fhir base}/.well-known/smart-configuration``, so the API republishes the
token service's own document — public, JSON, readable cross-origin, naming the service's endpoints and
agreeing with the CapabilityStatement's ``oauth-uris``. While the service cannot be read it is a 503."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.guard.helpers import ExampleApi
from tests.support import LiveServer
from tokensmith.example_api.capability import OAUTH_URIS
from tokensmith.guard import GuardSettings


def test_the_fhir_base_serves_the_token_services_smart_configuration(api: ExampleApi, service: LiveServer) -> None:
    with api.client() as fhir, service.client() as ts:
        resp = fhir.get("/fhir/.well-known/smart-configuration", headers={"accept": "text/html"})  # no credential
        own = ts.get("/.well-known/smart-configuration").json()
        metadata = fhir.get("/fhir/metadata").json()
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.headers["access-control-allow-origin"] == "*"
    doc = resp.json()
    assert doc == own
    issuer = service.settings.issuer
    assert doc["issuer"] == issuer
    assert doc["authorization_endpoint"] == f"{issuer}/smart/authorize"  # the SMART alias of /oauth/authorize
    assert doc["token_endpoint"] == f"{issuer}/smart/token"
    [extension] = [e for e in metadata["rest"][0]["security"]["extension"] if e["url"] == OAUTH_URIS]
    uris = {e["url"]: e["valueUri"] for e in extension["extension"]}
    # the CapabilityStatement names the OAuth paths of the same endpoints (from the OpenID metadata)
    assert (uris["authorize"], uris["token"]) == (f"{issuer}/oauth/authorize", f"{issuer}/oauth/token")


def test_while_the_service_cannot_be_read_it_is_a_503(tmp_path: Path) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings = GuardSettings(issuer="http://127.0.0.1:9999", service_url=f"http://127.0.0.1:{port}",
                             http_timeout=1.0)
    with ExampleApi(settings, tmp_path / "fhir.db") as api, api.client() as fhir:
        resp = fhir.get("/fhir/.well-known/smart-configuration")
    assert resp.status_code == 503 and resp.json()["error"] == "temporarily_unavailable"
