"""``/smart/apps``: SMART app registration (issue 10, "Management API shapes"), authorised like the API-key
management endpoints: a Bearer token whose principal holds ``App.read`` / ``App.write``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.requests import Request
from starlette.responses import Response

from tokensmith import permissions as perm
from tokensmith.errors import ValidationFailed
from tokensmith.http.auth import Principal, require
from tokensmith.http.deps import runtime
from tokensmith.http.responses import json_response
from tokensmith.inputs import NoControl
from tokensmith.smart import apps as service

router = APIRouter(tags=["smart apps"])

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NoControl]
Uri = Annotated[str, StringConstraints(min_length=1, max_length=2000), NoControl]
Scope = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=r"^[\x21\x23-\x5B\x5D-\x7E]+$")]
AuthMethod = Annotated[str, StringConstraints(max_length=40), NoControl]


class Jwks(BaseModel):
    """A JWK Set of public keys (``{"keys": [...]}``); checked key by key by the service."""

    model_config = ConfigDict(extra="allow")

    keys: list[dict[str, Any]] = Field(max_length=20)


class CreateApp(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    redirectUris: list[Uri] = Field(default_factory=list, max_length=service.MAX_REDIRECT_URIS)
    scopes: list[Scope] = Field(default_factory=list, max_length=service.MAX_SCOPES)
    isConfidential: bool = True
    jwks: Jwks | None = Field(None, description="Public keys for private_key_jwt (or give jwksUri).")
    jwksUri: Uri | None = Field(None, description="Where the app publishes its public keys (https).")
    tokenEndpointAuthMethod: AuthMethod | None = Field(
        None, description="Confidential symmetric apps: client_secret_basic (default) or client_secret_post.")


class UpdateApp(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    redirectUris: list[Uri] | None = Field(None, max_length=service.MAX_REDIRECT_URIS)
    scopes: list[Scope] | None = Field(None, max_length=service.MAX_SCOPES)
    jwks: Jwks | None = None
    jwksUri: Uri | None = None
    active: bool | None = None


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "validation errors: a list of `{loc, msg, type}`"},
    401: {"description": "missing, invalid, expired or revoked Bearer token"},
    403: {"description": "the caller lacks App.read / App.write"},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {**_ERRORS, 404: {"description": "`{\"error\": \"app not found\"}`"}}
_FIELDS = {"name": "name", "redirectUris": "redirect_uris", "scopes": "scopes", "jwks": "jwks",
           "jwksUri": "jwks_uri", "active": "active"}


@router.post("/smart/apps", status_code=201, responses={**_ERRORS, 201: {"description": "`{id, clientId, "
             "clientSecret (confidential symmetric only), redirectUris, ...}`"}},
             summary="Register a SMART app or backend service (the secret is returned only here)")
async def create_app(body: CreateApp, request: Request,
                     principal: Principal = Depends(require(perm.APP_WRITE))) -> Response:
    spec = service.AppSpec(
        name=body.name, redirect_uris=body.redirectUris, scopes=body.scopes, is_confidential=body.isConfidential,
        jwks=body.jwks.model_dump() if body.jwks is not None else None, jwks_uri=body.jwksUri,
        auth_method=body.tokenEndpointAuthMethod)
    created = await service.register_app(runtime(request), tenant_id=principal.tenant_id, spec=spec,
                                         actor=principal.actor)
    return json_response(created, 201, no_store=True)


@router.get("/smart/apps", responses=_ERRORS, summary="List the SMART apps of the caller's tenant")
async def list_apps(request: Request, principal: Principal = Depends(require(perm.APP_READ))) -> Response:
    return json_response(await service.list_apps(runtime(request), principal.tenant_id))


@router.get("/smart/apps/{app_id}", responses=_NOT_FOUND, summary="One SMART app (by id or clientId)")
async def get_app(app_id: str, request: Request, principal: Principal = Depends(require(perm.APP_READ))) -> Response:
    return json_response(await service.get_app(runtime(request), principal.tenant_id, app_id))


@router.patch("/smart/apps/{app_id}", responses=_NOT_FOUND,
              summary="Change name, redirectUris, scopes, keys or active (the app keeps its profile)")
async def update_app(app_id: str, body: UpdateApp, request: Request,
                     principal: Principal = Depends(require(perm.APP_WRITE))) -> Response:
    changes: dict[str, Any] = {}
    for field in body.model_fields_set:
        value = getattr(body, field)
        if value is None and field not in ("jwks", "jwksUri"):
            raise ValidationFailed([{"loc": [field], "msg": "must not be null", "type": "value_error"}])
        changes[_FIELDS[field]] = value.model_dump() if isinstance(value, Jwks) else value
    updated = await service.update_app(runtime(request), principal.tenant_id, app_id, changes, actor=principal.actor)
    return json_response(updated)


@router.delete("/smart/apps/{app_id}", status_code=204, responses=_NOT_FOUND,
               summary="Remove an app; every token it holds stops working at once")
async def delete_app(app_id: str, request: Request,
                     principal: Principal = Depends(require(perm.APP_WRITE))) -> Response:
    await service.delete_app(runtime(request), principal.tenant_id, app_id, actor=principal.actor)
    return Response(status_code=204)
