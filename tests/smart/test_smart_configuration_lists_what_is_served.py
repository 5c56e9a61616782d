"""``/.well-known/smart-configuration`` (and under ``/fhir``): JSON whatever ``Accept`` says, absolute URLs,
and only what is served — on this branch backend services; once an authorization endpoint and the code and
refresh grants are registered (toys here, part A's in the merged product), the launch capabilities appear.
Also: ``/smart/token`` is the token endpoint, and introspection returns a SMART token's launch context."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response

from tests.smart.helpers import KeyPair, backend_token
from tests.support import LiveServer, make_settings
from tokensmith.http.app import create_app
from tokensmith.oauth.client_auth import CLIENT, CallerPolicy
from tokensmith.runtime import Runtime
from tokensmith.services.bootstrap import initialise
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
        # nothing of the browser flow until it is served
        assert doc["capabilities"] == ["client-confidential-asymmetric", "permission-v1", "permission-v2"]
        assert "authorization_endpoint" not in doc and "code_challenge_methods_supported" not in doc
        assert doc["scopes_supported"] == SYSTEM_SCOPES
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


class _ToyGrant:
    """Stands for part A's grants: declares itself, serves nothing here."""

    callers = CallerPolicy(frozenset({CLIENT}), allow_public=True)

    def __init__(self, grant_type: str, response_types: tuple[str, ...]) -> None:
        self.grant_type = grant_type
        self.response_types = response_types

    async def validate(self, rt: Any, req: Any, caller: Any) -> Any:
        raise NotImplementedError

    async def create_response(self, rt: Any, req: Any, caller: Any, validated: Any) -> dict[str, Any]:
        raise NotImplementedError


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


async def test_launch_capabilities_follow_the_registered_grants_and_routes(
        inproc: tuple[Any, httpx.AsyncClient]) -> None:
    app, http = inproc
    server = app.state.authorization
    server.grants.register(_ToyGrant("authorization_code", ("code",)))
    doc = (await http.get(PATHS[0])).json()
    assert "launch-ehr" not in doc["capabilities"]  # a grant without the authorization endpoint is no launch

    async def authorize(request: Request) -> Response:
        return Response("sign in")

    app.router.add_route("/smart/authorize", authorize, methods=["GET"])
    doc = (await http.get(PATHS[0])).json()
    issuer = app.state.runtime.settings.issuer
    assert doc["authorization_endpoint"] == f"{issuer}/smart/authorize"
    assert doc["code_challenge_methods_supported"] == ["S256"] and doc["response_types_supported"] == ["code"]
    for cap in ("launch-ehr", "launch-standalone", "client-public", "client-confidential-symmetric",
                "client-confidential-asymmetric", "context-ehr-patient", "context-standalone-patient",
                "permission-patient", "permission-user", "permission-v1", "permission-v2"):
        assert cap in doc["capabilities"], cap
    assert "permission-offline" not in doc["capabilities"] and "sso-openid-connect" not in doc["capabilities"]
    assert "launch/patient" in doc["scopes_supported"] and "patient/*.rs" in doc["scopes_supported"]
    server.grants.register(_ToyGrant("refresh_token", ()))
    doc = (await http.get(PATHS[1])).json()
    assert "permission-offline" in doc["capabilities"] and "offline_access" in doc["scopes_supported"]


async def test_introspection_returns_the_launch_context(inproc: tuple[Any, httpx.AsyncClient]) -> None:
    app, http = inproc
    rt: Runtime = app.state.runtime
    from tokensmith.services.clients import create_client

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
