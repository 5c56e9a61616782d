"""Discovery (RFC 8414, OpenID Connect Discovery) and the JWKS (RFC 7517)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tokensmith.http.deps import runtime
from tokensmith.http.responses import json_response
from tokensmith.oauth.metadata import server_metadata

router = APIRouter(tags=["discovery"])


@router.get("/.well-known/jwks.json", summary="Public signing keys")
async def jwks(request: Request) -> Response:
    # Short cache: a relying party sees a rotation's next key well before it signs.
    return Response(runtime(request).keyring.jwks_json(), media_type="application/jwk-set+json",
                    headers={"Cache-Control": "public, max-age=300"})


@router.get("/.well-known/oauth-authorization-server", summary="RFC 8414 metadata")
async def oauth_metadata(request: Request) -> Response:
    return json_response(server_metadata(runtime(request), request.app.state.grants.grant_types))


@router.get("/.well-known/openid-configuration", summary="OpenID Connect discovery")
async def openid_configuration(request: Request) -> Response:
    return json_response(server_metadata(runtime(request), request.app.state.grants.grant_types))
