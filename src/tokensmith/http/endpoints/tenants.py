"""The platform-operator API: ``/tenants``.

Allowed only to a *user* of the platform's own tenant whose token holds ``Tenant.read`` / ``Tenant.write``
(the platform tenant's ``owner`` role has ``Tenant.*``). No wildcard stands for a platform permission
(:mod:`tokensmith.scopes`), roles elsewhere can never carry one, and client or exchange tokens never
qualify — so a tenant's own admin (``*``) gets 403 here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Security
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.requests import Request
from starlette.responses import Response

from tokensmith.errors import InsufficientScope
from tokensmith.http.auth import Principal, authenticate
from tokensmith.http.deps import runtime
from tokensmith.http.endpoints.people_common import json_body, json_schema_body
from tokensmith.http.openapi import bearer_scheme
from tokensmith.http.responses import json_response
from tokensmith.tenants import service

router = APIRouter(tags=["tenants (platform operators)"])

TENANT_READ = "Tenant.read"
TENANT_WRITE = "Tenant.write"
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=service.MAX_NAME)]
RateLimit = Annotated[int, Field(ge=1, le=service.MAX_RATE_LIMIT)]
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "validation errors"},
    401: {"description": "missing, invalid, expired or revoked Bearer token"},
    403: {"description": "not a platform operator"},
    404: {"description": "no such tenant"},
}


class CreateTenant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: str = Field(max_length=64, description="Lower-case letters, digits and '-'.")
    name: Name
    defaultRateLimit: RateLimit | None = Field(None, description="Requests per minute for its API keys.")
    adminEmail: str = Field(max_length=320, description="The tenant's first admin (role owner).")
    adminPassword: str | None = Field(None, max_length=1024,
                                      description="Omit to have a password generated and returned once.")


class UpdateTenant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    defaultRateLimit: RateLimit | None = Field(None, description="null: back to the deployment default.")
    status: Annotated[str, StringConstraints(pattern="^(active|disabled)$")] | None = None


_BEARER = Security(bearer_scheme())  # declares bearerAuth in the OpenAPI; the check is authenticate()'s


def platform(permission: str) -> Callable[[Request], Awaitable[Principal]]:
    async def dependency(request: Request, _declared: HTTPAuthorizationCredentials | None = _BEARER) -> Principal:
        principal = await authenticate(request)
        states = runtime(request).tenants
        if states.platform_id is None:
            await states.load()
        if (principal.user_id is None or principal.tenant_id != states.platform_id
                or not principal.allows(permission)):
            raise InsufficientScope(f"this operation is for platform operators ({permission})")
        return principal

    return dependency


async def _view(request: Request, record: service.TenantRecord) -> dict[str, Any]:
    return {**record.view(), "contents": await service.tenant_contents(runtime(request), record.id)}


@router.get("/tenants", summary="List tenants (platform operators)", responses=_ERRORS)
async def list_tenants(request: Request, _: Principal = Depends(platform(TENANT_READ))) -> Response:
    return json_response([r.view() for r in await service.list_tenants(runtime(request))])


@router.post("/tenants", status_code=201, summary="Create a tenant and its first admin",
             openapi_extra=json_schema_body(CreateTenant), responses={**_ERRORS, 409: {"description": "taken"}})
async def create_tenant(request: Request, principal: Principal = Depends(platform(TENANT_WRITE))) -> Response:
    body = await json_body(request, CreateTenant)
    record, admin, generated = await service.create_tenant(
        runtime(request), slug=body.slug, name=body.name, admin_email=body.adminEmail,
        admin_password=body.adminPassword, default_rate_limit=body.defaultRateLimit, actor=principal.actor)
    if generated is not None:
        admin = {**admin, "password": generated}
    return json_response({**record.view(), "admin": admin}, 201, no_store=True)


@router.get("/tenants/{ref}", summary="One tenant (by id or slug)", responses=_ERRORS)
async def get_tenant(ref: str, request: Request, _: Principal = Depends(platform(TENANT_READ))) -> Response:
    return json_response(await _view(request, await service.get_tenant(runtime(request), ref)))


@router.patch("/tenants/{ref}", summary="Rename, change the default rate limit, or disable/enable",
              openapi_extra=json_schema_body(UpdateTenant), responses={**_ERRORS, 409: {"description": "refused"}})
async def update_tenant(ref: str, request: Request,
                        principal: Principal = Depends(platform(TENANT_WRITE))) -> Response:
    body = await json_body(request, UpdateTenant)
    rt = runtime(request)
    record = await service.update_tenant(
        rt, ref, name=body.name, default_rate_limit=body.defaultRateLimit,
        clear_rate_limit="defaultRateLimit" in body.model_fields_set and body.defaultRateLimit is None,
        actor=principal.actor)
    if body.status is not None:
        record = await service.set_tenant_status(rt, record.id, body.status == "active", actor=principal.actor)
    return json_response(record.view())


@router.post("/tenants/{ref}/disable", summary="Disable: every credential of the tenant stops within 1 s",
             responses={**_ERRORS, 409: {"description": "the platform's own tenant"}})
async def disable_tenant(ref: str, request: Request,
                         principal: Principal = Depends(platform(TENANT_WRITE))) -> Response:
    record = await service.set_tenant_status(runtime(request), ref, False, actor=principal.actor)
    return json_response(record.view())


@router.post("/tenants/{ref}/enable", summary="Enable again (tokens issued before stay dead)", responses=_ERRORS)
async def enable_tenant(ref: str, request: Request,
                        principal: Principal = Depends(platform(TENANT_WRITE))) -> Response:
    record = await service.set_tenant_status(runtime(request), ref, True, actor=principal.actor)
    return json_response(record.view())


@router.delete("/tenants/{ref}", status_code=204, summary="Delete a disabled tenant without live credentials",
               responses={**_ERRORS, 409: {"description": "active, or still has live API keys or clients"}})
async def delete_tenant(ref: str, request: Request,
                        principal: Principal = Depends(platform(TENANT_WRITE))) -> Response:
    await service.delete_tenant(runtime(request), ref, actor=principal.actor)
    return Response(status_code=204)
