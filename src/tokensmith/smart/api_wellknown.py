"""``GET /.well-known/smart-configuration`` and ``/fhir/.well-known/smart-configuration`` (JSON whatever
the ``Accept`` header, readable cross-origin: browser apps fetch it). ``POST /smart/token`` is served by
:mod:`tokensmith.http.endpoints.oidc`."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tokensmith.http.responses import json_response
from tokensmith.smart.discovery import smart_configuration

router = APIRouter(tags=["smart discovery"])


def served_routes(routes: Iterable[object], prefix: str = "", found: dict[str, set[str]] | None = None,
                  ) -> dict[str, set[str]]:
    """Every routed path and its methods, looking into included routers (FastAPI keeps those as one
    entry holding the router it includes)."""
    found = {} if found is None else found
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            context = getattr(route, "include_context", None)
            served_routes(inner.routes, prefix + str(getattr(context, "prefix", "") or ""), found)
            continue
        path = getattr(route, "path", None)
        if isinstance(path, str):
            found.setdefault(prefix + path, set()).update(getattr(route, "methods", None) or ())
    return found


def _document(request: Request) -> Response:
    server = request.app.state.authorization
    doc = smart_configuration(server, request.app.state.runtime.settings.issuer,
                              served_routes(request.app.router.routes))
    return json_response(doc, headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=300"})


@router.get("/.well-known/smart-configuration", summary="SMART App Launch configuration (derived from what is "
            "served)")
async def smart_config(request: Request) -> Response:
    return _document(request)


@router.get("/fhir/.well-known/smart-configuration", summary="The SMART configuration under the FHIR base URL")
async def fhir_smart_config(request: Request) -> Response:
    return _document(request)

