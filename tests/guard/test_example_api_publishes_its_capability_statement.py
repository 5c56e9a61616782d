"""``GET /fhir/metadata`` of the example API: a public FHIR R4 CapabilityStatement that a strict parser
(fhirclient's models) accepts, whose SMART ``oauth-uris`` are the token service's endpoints, and that
states no interaction the API does not serve. While the issuer cannot be reached it is a 503, never a
statement without its security."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

from fhirclient.models.capabilitystatement import CapabilityStatement

from tests.guard.helpers import ExampleApi, guard_settings
from tests.support import LiveServer
from tokensmith.example_api.capability import OAUTH_URIS
from tokensmith.guard import GuardSettings

#: the route each declared interaction needs (FHIR RESTful API)
ROUTES = {"read": ("GET", "/fhir/{type}/{{id}}"), "search-type": ("GET", "/fhir/{type}"),
          "create": ("POST", "/fhir/{type}")}
PATH_PARAMETER = re.compile(r"\{[^}]+\}")


def _uris(doc: dict[str, Any]) -> dict[str, str]:
    [extension] = [e for e in doc["rest"][0]["security"]["extension"] if e["url"] == OAUTH_URIS]
    return {e["url"]: e["valueUri"] for e in extension["extension"]}


def test_the_statement_is_public_and_names_the_token_services_endpoints(api: ExampleApi,
                                                                       service: LiveServer) -> None:
    with api.client() as fhir:
        resp = fhir.get("/fhir/metadata")  # no credential
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    parsed = CapabilityStatement(doc, strict=True)
    assert (parsed.fhirVersion, parsed.kind, parsed.status, parsed.format) == ("4.0.1", "instance", "active", ["json"])
    assert parsed.rest[0].security.service[0].coding[0].code == "SMART-on-FHIR"
    issuer = service.settings.issuer
    assert _uris(doc) == {"authorize": f"{issuer}/oauth/authorize", "token": f"{issuer}/oauth/token",
                          "revoke": f"{issuer}/oauth/revoke", "introspect": f"{issuer}/oauth/introspect"}


def test_every_declared_interaction_is_served(api: ExampleApi) -> None:
    with api.client() as fhir:
        doc = fhir.get("/fhir/metadata").json()
    served = {(method, PATH_PARAMETER.sub("{id}", route.path))
              for route in api.app.routes for method in getattr(route, "methods", ())}
    declared = [(r["type"], i["code"]) for r in doc["rest"][0]["resource"] for i in r["interaction"]]
    assert declared and {t for t, _ in declared} == {"Patient", "Observation"}
    for resource_type, code in declared:
        method, path = ROUTES[code]
        assert (method, path.format(type=resource_type)) in served, (resource_type, code)


def test_while_the_issuer_cannot_be_reached_it_is_a_503(tmp_path: Path) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings = GuardSettings(issuer="http://127.0.0.1:9999", service_url=f"http://127.0.0.1:{port}",
                             http_timeout=1.0)
    with ExampleApi(settings, tmp_path / "fhir.db") as api, api.client() as fhir:
        resp = fhir.get("/fhir/metadata")
    assert resp.status_code == 503 and resp.json()["error"] == "temporarily_unavailable"
    assert resp.headers["retry-after"] == "5"


def test_an_unreachable_issuer_at_start_is_read_again_later(service: LiveServer, tmp_path: Path) -> None:
    """The guard starts before the issuer answers (a proxy that is down): the statement is built once
    the issuer can be read, without restarting the API."""
    from tests.support import TcpProxy

    proxy = TcpProxy("127.0.0.1", service.port)
    try:
        proxy.cut()
        settings = guard_settings(service, None, service_url=f"http://127.0.0.1:{proxy.port}", http_timeout=1.0)
        with ExampleApi(settings, tmp_path / "fhir.db") as api, api.client() as fhir:
            assert fhir.get("/fhir/metadata").status_code == 503
            proxy.restore()
            again = fhir.get("/fhir/metadata")
        assert again.status_code == 200 and _uris(again.json())["token"] == f"{service.settings.issuer}/oauth/token"
    finally:
        proxy.close()
