"""Discovery (RFC 8414, OpenID Connect Discovery) and the JWKS (RFC 7517)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tokensmith.http.deps import runtime
from tokensmith.http.responses import json_response
from tokensmith.oauth.metadata import DOCS_PATH

router = APIRouter(tags=["discovery"])


@router.get("/.well-known/jwks.json", summary="Public signing keys")
async def jwks(request: Request) -> Response:
    # Short cache: a relying party sees a rotation's next key well before it signs.
    return Response(runtime(request).keyring.jwks_json(), media_type="application/jwk-set+json",
                    headers={"Cache-Control": "public, max-age=300"})


def _metadata(request: Request) -> Response:
    """Derived from the authorization server's registries; ``service_documentation`` only while the
    documentation page is really routed."""
    app = request.app
    docs = any(getattr(route, "path", None) == DOCS_PATH for route in app.router.routes)
    return json_response(app.state.authorization.metadata(service_documentation=docs))


@router.get("/.well-known/oauth-authorization-server", summary="RFC 8414 metadata")
async def oauth_metadata(request: Request) -> Response:
    return _metadata(request)


@router.get("/.well-known/openid-configuration",
            summary="The RFC 8414 metadata at the OpenID discovery address (tokensmith issues no ID tokens yet)")
async def openid_configuration(request: Request) -> Response:
    return _metadata(request)
