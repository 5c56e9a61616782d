"""``/.well-known/smart-configuration`` (and under ``/fhir``): JSON whatever ``Accept`` says, absolute URLs,
and only what is served: the code flow's capabilities with the authorization endpoint and its grants, the EHR
launch and standalone-patient ones only with a launch-context provider.
Also: ``/smart/token`` is the token endpoint, and introspection returns a SMART token's launch context."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.smart.helpers import KeyPair, backend_token
from tests.support import LiveServer, make_settings
from tokensmith.bootstrap import initialise
from tokensmith.codeflow.launch import NoLaunchContext
from tokensmith.http.app import create_app
from tokensmith.runtime import Runtime
from tokensmith.smart.api_wellknown import served_routes
from tokensmith.smart.discovery import SYSTEM_SCOPES

PATHS = ("/.well-known/smart-configuration", "/fhir/.well-known/smart-configuration")


def test_the_document_on_its_own(server: LiveServer) -> None:
    issuer = server.settings.issuer
    with server.client() as http:
        docs = [http.get(p, headers={"Accept": "text/html"}) for p in PATHS]
        for resp in docs:
            assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/json")
            assert resp.headers["access-control-allow-origin"] == "*"
        doc = docs[0].json()
        assert docs[1].json() == doc
        assert doc["issuer"] == issuer and doc["token_endpoint"] == f"{issuer}/smart/token"
        assert doc["jwks_uri"] == f"{issuer}/.well-known/jwks.json"
        assert doc["introspection_endpoint"] == f"{issuer}/oauth/introspect"
        assert doc["revocation_endpoint"] == f"{issuer}/oauth/revoke"
        assert "client_credentials" in doc["grant_types_supported"]
        assert "private_key_jwt" in doc["token_endpoint_auth_methods_supported"]
        assert {"RS384", "ES384"} <= set(doc["token_endpoint_auth_signing_alg_values_supported"])
        assert set(doc["capabilities"]) == {
            "launch-ehr", "launch-standalone", "authorize-post", "client-public", "client-confidential-symmetric",
            "client-confidential-asymmetric", "sso-openid-connect", "context-ehr-patient", "context-ehr-encounter",
            "context-standalone-patient",
            "permission-offline", "permission-online", "permission-patient", "permission-user", "permission-v1",
            "permission-v2"}
        assert doc["authorization_endpoint"] == f"{issuer}/smart/authorize"
        assert doc["code_challenge_methods_supported"] == ["S256"]
        assert {"launch", "launch/patient"} <= set(doc["scopes_supported"])
        assert "launch/encounter" not in doc["scopes_supported"]  # no encounter picker
        assert set(SYSTEM_SCOPES) <= set(doc["scopes_supported"])
        for name, value in doc.items():
            if name.endswith("_endpoint") or name == "jwks_uri":
                assert value.startswith(issuer), name
                path = urlsplit(value).path
                assert path in served_routes(server.app.router.routes), path


def test_the_smart_token_path_is_the_token_endpoint(server: LiveServer) -> None:
    key = KeyPair()
    with server.client() as http:
        record, _ = server.create_client(scopes=["system/*.rs"], kind="smart", jwks=key.jwks(),
                                         auth_method="private_key_jwt", access_token_ttl=300)
        assertion = key.assertion(record.client_id, server.settings.issuer + "/smart/token")
        resp = http.post("/smart/token", data={"grant_type": "client_credentials",
                                               "client_assertion_type": "urn:ietf:params:oauth:client-assertion-"
                                               "type:jwt-bearer", "client_assertion": assertion})
        assert resp.status_code == 200, resp.text
        assert backend_token(http, record.client_id, "x").status_code == 401


@pytest.fixture
async def inproc(sqlite_url: str) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    rt = Runtime(make_settings(sqlite_url))
    app = create_app(runtime=rt)
    await initialise(rt)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://tokensmith.test") as http:
            yield app, http
    await rt.stop()


async def test_ehr_launch_capabilities_need_a_launch_context_provider(
        inproc: tuple[Any, httpx.AsyncClient]) -> None:
    app, http = inproc
    doc = (await http.get(PATHS[0])).json()
    assert {"launch-ehr", "context-ehr-patient", "context-ehr-encounter"} <= set(doc["capabilities"])
    app.state.authorization.launch_resolver = NoLaunchContext()
    doc = (await http.get(PATHS[1])).json()
    assert "launch-standalone" in doc["capabilities"]
    assert not {"launch-ehr", "context-ehr-patient", "context-ehr-encounter",
                "context-standalone-patient"} & set(doc["capabilities"])
    assert "launch" not in doc["scopes_supported"]


async def test_introspection_returns_the_launch_context(inproc: tuple[Any, httpx.AsyncClient]) -> None:
    app, http = inproc
    rt: Runtime = app.state.runtime
    from tokensmith.clients import create_client

    tenant = (await initialise(rt))["tenant_id"]
    caller, secret = await create_client(rt, tenant_id=tenant, name="rs", scopes=["api.read"])
    for fmt in ("jwt", "opaque"):
        token = await rt.issuer.issue(fmt=fmt, subject="u1", client_id=caller.client_id, tenant_id=tenant,
                                      scopes=["launch", "patient/Observation.rs"], ttl=900,
                                      extra={"patient": "alice-1", "encounter": "enc-7",
                                             "fhirUser": "Practitioner/dr-1"})
        body = (await http.post("/oauth/introspect", data={"token": token.value},
                                auth=(caller.client_id, secret or ""))).json()
        assert body["active"] is True and body["scope"] == "launch patient/Observation.rs", fmt
        assert (body["patient"], body["encounter"], body["fhirUser"]) == ("alice-1", "enc-7", "Practitioner/dr-1")
