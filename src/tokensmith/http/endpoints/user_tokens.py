"""Personal user tokens (spec §C): ``POST /api/user/oauth2/token`` (the user token for an opaque access
token) and their management, ``/user-tokens`` (the token is shown once, at creation).

Errors of the token endpoint: ``400`` (``invalid_request`` / ``unsupported_grant_type``), ``404``
unknown user token and ``410`` revoked one, each ``{"error": "invalid_grant", "error_description"}``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from tokensmith import permissions as perm
from tokensmith.errors import InvalidRequest, NotFound, UnsupportedGrantType
from tokensmith.http import fastpath
from tokensmith.http.auth import Principal, require
from tokensmith.http.deps import ip_of, oauth_request, request_id, runtime
from tokensmith.http.endpoints.people_common import need, user_id_of
from tokensmith.http.responses import json_response
from tokensmith.inputs import NoControl
from tokensmith.people import user_tokens as service

router = APIRouter(tags=["user tokens"])

_FORM_DOC: dict[str, Any] = {
    "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
        "type": "object", "required": ["grant_type", "refresh_token"], "properties": {
            "grant_type": {"type": "string", "enum": ["refresh_token"]},
            "refresh_token": {"type": "string", "description": "the user token"}}}}}},
}


class CreateUserToken(BaseModel):
    name: Annotated[str, Field(max_length=200), NoControl] | None = None


def setup(app: FastAPI) -> None:
    fastpath.register(app, "POST", "/api/user/oauth2/token", _exchange)


async def _exchange(request: Request) -> Response:
    req = await oauth_request(request)
    grant_type = req.get("grant_type")
    if grant_type is None:
        raise InvalidRequest("grant_type is required")
    if grant_type != "refresh_token":
        raise UnsupportedGrantType("only grant_type=refresh_token is supported here")
    token = req.get("refresh_token")
    if token is None:
        raise InvalidRequest("refresh_token is required")
    body = await service.exchange_user_token(runtime(request), token, ip=req.client_ip, request_id=req.request_id)
    return json_response(body, no_store=True)


@router.post("/api/user/oauth2/token", summary="A user token for a short-lived opaque access token",
             openapi_extra=_FORM_DOC, responses={
                 200: {"description": "`{user_id, access_token, session_id, role, refresh_token, "
                       "role_permissions, project_permissions, tenant}`"},
                 404: {"description": "unknown user token"}, 410: {"description": "revoked user token"}})
async def exchange(request: Request) -> Response:
    return await _exchange(request)


@router.post("/user-tokens", status_code=201, summary="Create a personal user token (shown once)")
async def create(body: CreateUserToken, request: Request,
                 principal: Principal = Depends(require(perm.USER_TOKEN_WRITE))) -> Response:
    record, token = await service.create_user_token(runtime(request), user_id=user_id_of(principal),
                                                    tenant_id=principal.tenant_id, name=body.name,
                                                    actor=principal.actor, ip=ip_of(request))
    return json_response({**record.view(), "token": token}, 201, no_store=True)


@router.get("/user-tokens", summary="The caller's user tokens (or one user's, with User.read); never the token")
async def list_tokens(request: Request, user_id: str | None = None, include_revoked: bool = False,
                      principal: Principal = Depends(require(perm.USER_TOKEN_READ))) -> Response:
    target = user_id or user_id_of(principal)
    if target != principal.user_id:
        need(principal, perm.USER_READ)
    records = await service.list_user_tokens(runtime(request), principal.tenant_id, user_id=target,
                                             include_revoked=include_revoked)
    return json_response([r.view() for r in records])


@router.delete("/user-tokens/{token_id}", status_code=204, summary="Revoke a user token (and its access tokens)")
async def revoke(token_id: str, request: Request,
                 principal: Principal = Depends(require(perm.USER_TOKEN_WRITE))) -> Response:
    rt = runtime(request)
    try:
        record = await service.get_user_token(rt, token_id, principal.tenant_id)
    except NotFound:
        raise NotFound("user token not found") from None
    if record.user_id != principal.user_id:
        need(principal, perm.USER_WRITE)
    await service.revoke_user_token(rt, token_id, tenant_id=principal.tenant_id, actor=principal.actor,
                                    ip=ip_of(request), request_id=request_id(request))
    return Response(status_code=204)
