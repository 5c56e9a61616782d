"""``POST /oauth/token`` (and ``/identity-server/connect/token``), ``/oauth/introspect``, ``/oauth/revoke``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.requests import Request
from starlette.responses import Response

from tokensmith.http import fastpath
from tokensmith.http.deps import oauth_request
from tokensmith.http.openapi import CLIENT, CLIENT_OR_API_KEY
from tokensmith.http.responses import json_response
from tokensmith.oauth.server import AuthorizationServer

router = APIRouter(tags=["oauth"])

_FORM_DOC: dict[str, Any] = {
    "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
        "type": "object", "properties": {
            "grant_type": {"type": "string"}, "scope": {"type": "string"}, "client_id": {"type": "string"},
            "client_secret": {"type": "string"}, "resource": {"type": "string"}}}}}},
}
_TOKEN_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "`{access_token, token_type, expires_in, scope}`"},
    400: {"description": "RFC 6749 §5.2 error"},
    401: {"description": "invalid_client"},
    429: {"description": "too many failed client authentications"},
    503: {"description": "database unavailable (Retry-After)"},
}


def setup(app: FastAPI) -> None:
    # Hot endpoints: dispatched ahead of FastAPI (see tokensmith.http.fastpath).
    fastpath.register(app, "POST", "/oauth/token", _token)
    fastpath.register(app, "POST", "/identity-server/connect/token", _token)
    fastpath.register(app, "POST", "/oauth/introspect", _introspection)


def _server(request: Request) -> AuthorizationServer:
    server: AuthorizationServer = request.app.state.authorization
    return server


async def _token(request: Request) -> Response:
    req = await oauth_request(request)
    body = await request.app.state.authorization.token(req)
    return json_response(body, no_store=True)


@router.post("/oauth/token", summary="Token endpoint (RFC 6749 §3.2)",
             openapi_extra={**_FORM_DOC, "security": CLIENT_OR_API_KEY}, responses=_TOKEN_RESPONSES)
async def token(request: Request) -> Response:
    return await _token(request)


@router.post("/identity-server/connect/token", summary="Token endpoint (IdentityServer-compatible path)",
             openapi_extra={**_FORM_DOC, "security": CLIENT_OR_API_KEY}, responses=_TOKEN_RESPONSES)
async def token_alias(request: Request) -> Response:
    return await _token(request)


@router.post("/oauth/introspect", summary="Token introspection (RFC 7662)",
             openapi_extra={**_FORM_DOC, "security": CLIENT_OR_API_KEY})
async def introspection(request: Request) -> Response:
    return await _introspection(request)


async def _introspection(request: Request) -> Response:
    req = await oauth_request(request)
    body = await _server(request).introspect(req)
    return json_response(body, no_store=True)


@router.post("/oauth/revoke", summary="Token revocation (RFC 7009)",
             openapi_extra={**_FORM_DOC, "security": CLIENT})
async def revocation(request: Request) -> Response:
    req = await oauth_request(request)
    await _server(request).revoke(req)
    return Response(status_code=200, headers={"Cache-Control": "no-store"})
