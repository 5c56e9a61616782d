"""The OpenAPI document declares how each operation is called — Bearer tokens, an OAuth client's HTTP Basic
credentials, the ``X-API-Key`` header — so that Swagger UI's *Authorize* works; and ``/docs`` loads every
asset from the service itself (it works offline)."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.apikeys.helpers import USER, api_key, create_key
from tests.apikeys.helpers import admin_headers as key_admin_headers
from tests.support import LiveServer, make_settings


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('openapi')}/t.db"
    with LiveServer(make_settings(url, access_log=False)) as server:
        yield server


def _document(live: LiveServer) -> dict[str, Any]:
    with live.client() as http:
        resp = http.get("/openapi.json")
    assert resp.status_code == 200
    doc: dict[str, Any] = resp.json()
    return doc


def _operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


def _credentials(doc: dict[str, Any], scheme_name: str, value: str) -> dict[str, str]:
    """The header Swagger UI sends for ``scheme_name`` after *Authorize* with ``value``."""
    scheme = doc["components"]["securitySchemes"][scheme_name]
    if scheme["type"] == "apiKey":
        assert scheme["in"] == "header"
        return {scheme["name"]: value}
    if scheme["scheme"] == "bearer":
        return {"Authorization": f"Bearer {value}"}
    assert scheme["scheme"] == "basic"
    return {"Authorization": "Basic " + base64.b64encode(value.encode()).decode()}


def test_the_three_schemes_are_declared(live: LiveServer) -> None:
    schemes = _document(live)["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["type"] == "http" and schemes["bearerAuth"]["scheme"] == "bearer"
    assert schemes["clientBasic"]["type"] == "http" and schemes["clientBasic"]["scheme"] == "basic"
    assert schemes["apiKey"] == {**schemes["apiKey"], "type": "apiKey", "in": "header", "name": "X-API-Key"}


def test_every_operation_that_refuses_an_anonymous_call_declares_its_security(live: LiveServer) -> None:
    doc = _document(live)
    declared = set(doc["components"]["securitySchemes"])
    refused = []
    with live.client() as http:
        for method, path, operation in _operations(doc):
            security = operation.get("security", [])
            assert {name for requirement in security for name in requirement} <= declared, (method, path)
            resp = http.request(method, re.sub(r"\{[^}]+\}", "x", path), json={})
            if resp.status_code == 401:
                refused.append(path)
                assert security, f"{method} {path} answers 401 but declares no security"
            if {"bearerAuth": []} in security:
                assert resp.status_code == 401, f"{method} {path} declares Bearer but answered {resp.status_code}"
    assert len(refused) > 20


def test_authorize_with_each_scheme_works(live: LiveServer) -> None:
    doc = _document(live)
    paths = doc["paths"]
    assert paths["/users"]["get"]["security"] == [{"bearerAuth": []}]
    assert {"clientBasic": []} in paths["/oauth/token"]["post"]["security"]
    assert paths["/api/v1/token/"]["post"]["security"] == [{"apiKey": []}]
    with live.client() as http:
        record, secret = live.create_client(scopes=["ApiKey.*", "ExchangeUser.*", "Patient.*"], name="admin")
        token = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                          headers=_credentials(doc, "clientBasic", f"{record.client_id}:{secret}"))
        assert token.status_code == 200, token.text
        bearer = _credentials(doc, "bearerAuth", token.json()["access_token"])
        assert http.get("/api-keys", headers=bearer).status_code == 200
        key = api_key(create_key(http, key_admin_headers(live, http)))
        exchanged = http.post("/api/v1/token/", json=USER, headers=_credentials(doc, "apiKey", key))
        assert exchanged.status_code == 200, exchanged.text


def test_docs_load_every_asset_from_the_service(live: LiveServer) -> None:
    with live.client() as http:
        page = http.get("/docs")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        urls = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", page.text)
        assets = [u for u in urls if u != "/openapi.json"]
        assert len(assets) >= 3
        assert not [u for u in urls if u.startswith(("http:", "https:", "//"))], urls  # nothing from elsewhere
        for url in assets:
            resp = http.get(url)
            assert resp.status_code == 200, url
            assert len(resp.content) > 100 and "max-age" in resp.headers["cache-control"]
        assert "SwaggerUIBundle" in http.get(next(u for u in assets if u.endswith(".js"))).text
        missing = http.get("/docs/assets/index.html")
        assert missing.status_code == 404 and missing.json()["error"]
        assert http.get("/docs/assets/..%2Fpyproject.toml").status_code == 404


def test_the_served_swagger_ui_renders_openapi_3_1(live: LiveServer) -> None:
    """Swagger UI 5 renders OpenAPI 3.1, the version FastAPI writes (Swagger UI 4 shows a blank page)."""
    assert _document(live)["openapi"].startswith("3.1")
    import swagger_ui_bundle

    assert "swagger-ui-5." in str(swagger_ui_bundle.swagger_ui_path)
