"""OpenID Connect and the code flow's JSON endpoints: ``GET/POST /oauth/userinfo`` (Core §5.3), the
user's remembered consents (``GET /users/me/consents``, ``DELETE /users/me/consents/{clientId}``) and the
``/smart/token`` alias of the token endpoint."""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI
from starlette.requests import Request
from starlette.responses import Response

from tokensmith.codeflow import consents
from tokensmith.codeflow.id_token import user_claims
from tokensmith.errors import InsufficientScope, InvalidToken, NotFound
from tokensmith.http import fastpath
from tokensmith.http.auth import Principal, authenticate, bearer_token
from tokensmith.http.deps import runtime
from tokensmith.http.endpoints import oauth
from tokensmith.http.endpoints.people_common import user_id_of
from tokensmith.http.openapi import BEARER, CLIENT_OR_API_KEY, requirement
from tokensmith.http.responses import json_response

router = APIRouter()


def setup(app: FastAPI) -> None:
    fastpath.register(app, "POST", "/smart/token", oauth._token)


@router.post("/smart/token", tags=["oauth"], summary="Token endpoint (the SMART App Launch path)",
             openapi_extra={**oauth._FORM_DOC, "security": CLIENT_OR_API_KEY}, responses=oauth._TOKEN_RESPONSES)
async def smart_token(request: Request) -> Response:
    return await oauth._token(request)


async def _userinfo(request: Request) -> Response:
    token = bearer_token(request)
    if token is None:
        raise InvalidToken("a Bearer access token is required")
    rt = runtime(request)
    info, reason = await rt.verifier.verify_access_token(token)
    if info is None:
        raise InvalidToken("the access token is invalid, expired or revoked", debug=reason)
    claims = info.claims
    scope = claims.get("scope")
    scopes = scope.split() if isinstance(scope, str) else []
    subject = claims.get("sub")
    if "openid" not in scopes or not isinstance(subject, str) or subject == claims.get("client_id"):
        raise InsufficientScope("userinfo needs an access token of a user with the openid scope",
                                headers={"WWW-Authenticate": 'Bearer error="insufficient_scope", scope="openid"'})
    fhir_user = claims.get("fhirUser") if isinstance(claims.get("fhirUser"), str) else None
    body = {"sub": subject, **await user_claims(rt, subject, scopes, fhir_user)}
    return json_response(body, no_store=True)


@router.get("/oauth/userinfo", tags=["oauth"], summary="OpenID Connect userinfo (Bearer, scope openid)",
             openapi_extra={"security": requirement(BEARER)})
async def userinfo(request: Request) -> Response:
    return await _userinfo(request)


@router.post("/oauth/userinfo", tags=["oauth"], summary="OpenID Connect userinfo (Bearer, scope openid)",
             openapi_extra={"security": requirement(BEARER)})
async def userinfo_post(request: Request) -> Response:
    return await _userinfo(request)


@router.get("/users/me/consents", tags=["users"], summary="The applications you allowed, and what to")
async def my_consents(request: Request, principal: Principal = Depends(authenticate)) -> Response:
    found = await consents.list_consents(runtime(request), user_id_of(principal))
    return json_response({"consents": [c.view() for c in found]})


@router.delete("/users/me/consents/{clientId}", tags=["users"], status_code=204,
               summary="Withdraw a consent (the app's refresh tokens stop working; it must ask again)")
async def revoke_consent(clientId: str, request: Request, principal: Principal = Depends(authenticate)) -> Response:
    done = await consents.revoke(runtime(request), tenant_id=principal.tenant_id, user_id=user_id_of(principal),
                                 client_id=clientId)
    if not done:
        raise NotFound("no consent for this client")
    return Response(status_code=204)
