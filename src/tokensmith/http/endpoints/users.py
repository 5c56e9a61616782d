"""Users and roles of the caller's tenant: ``/users``, ``/users/me``, ``/roles``.

Authorised with :func:`tokensmith.http.auth.require`; nobody can create or promote a user (or a role)
beyond their own permissions, or edit a user more powerful than themselves.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from tokensmith import permissions as perm
from tokensmith.errors import InvalidRequest
from tokensmith.http.auth import Principal, authenticate, require
from tokensmith.http.deps import runtime
from tokensmith.http.endpoints.people_common import need, user_id_of
from tokensmith.http.responses import json_response
from tokensmith.inputs import Label, NoControl, NoNul
from tokensmith.people import roles as role_service
from tokensmith.people import users as user_service

router = APIRouter(tags=["users"])


class CreateUser(BaseModel):
    email: Annotated[str, Field(max_length=320), NoControl]
    password: Annotated[str, Field(max_length=1024), NoNul] | None = None
    role: Annotated[str, Field(max_length=100), NoControl] = "member"
    projectPermissions: list[Label] = Field(default_factory=list, max_length=500)
    name: Annotated[str, Field(max_length=200), NoControl] | None = None


class UpdateUser(BaseModel):
    role: Annotated[str, Field(max_length=100), NoControl] | None = None
    status: Literal["active", "disabled"] | None = None
    disabled: bool | None = None
    projectPermissions: list[Label] | None = Field(None, max_length=500)
    name: Annotated[str, Field(max_length=200), NoControl] | None = None
    password: Annotated[str, Field(max_length=1024), NoNul] | None = None
    totpEnabled: Literal[False] | None = None
    fhirUser: Annotated[str, Field(max_length=200), NoControl] | None = Field(
        None, description="SMART: `Practitioner/<id>` or `Patient/<id>` of the directory; null unlinks.")


class ChangePassword(BaseModel):
    currentPassword: Annotated[str, Field(max_length=1024), NoNul]
    newPassword: Annotated[str, Field(max_length=1024), NoNul]


class CreateRole(BaseModel):
    name: Annotated[str, Field(max_length=100), NoControl]
    permissions: list[Label] = Field(default_factory=list, max_length=500)


@router.post("/users", status_code=201, summary="Create a user in the caller's tenant")
async def create_user(body: CreateUser, request: Request,
                      principal: Principal = Depends(require(perm.USER_WRITE))) -> Response:
    record = await user_service.create_user(
        runtime(request), tenant_id=principal.tenant_id, email=body.email, password=body.password, role=body.role,
        project_permissions=body.projectPermissions, name=body.name, granted=principal.scopes,
        actor=principal.actor)
    return json_response(record.view(), 201)


@router.get("/users", summary="List the users of the caller's tenant")
async def list_users(request: Request, principal: Principal = Depends(require(perm.USER_READ))) -> Response:
    records = await user_service.list_users(runtime(request), principal.tenant_id)
    return json_response([r.view() for r in records])


@router.get("/users/me", summary="The calling user")
async def me(request: Request, principal: Principal = Depends(authenticate)) -> Response:
    record = await user_service.get_user(runtime(request), user_id_of(principal), principal.tenant_id)
    return json_response(record.view())


@router.post("/users/me/password", status_code=204, summary="Change the caller's password (ends other sign-ins)")
async def change_password(body: ChangePassword, request: Request,
                          principal: Principal = Depends(authenticate)) -> Response:
    await user_service.change_own_password(runtime(request), user_id_of(principal), body.currentPassword,
                                           body.newPassword, actor=principal.actor)
    return Response(status_code=204)


@router.get("/users/{user_id}", summary="One user of the caller's tenant")
async def get_user(user_id: str, request: Request, principal: Principal = Depends(authenticate)) -> Response:
    if user_id != principal.user_id:
        need(principal, perm.USER_READ)
    record = await user_service.get_user(runtime(request), user_id, principal.tenant_id)
    return json_response(record.view())


@router.patch("/users/{user_id}",
              summary="Change a user's role, status, project permissions, name, password or fhirUser")
async def update_user(user_id: str, body: UpdateUser, request: Request,
                      principal: Principal = Depends(require(perm.USER_WRITE))) -> Response:
    status = body.status
    if body.disabled is not None:
        wanted: Literal["active", "disabled"] = "disabled" if body.disabled else "active"
        if status is not None and status != wanted:
            raise InvalidRequest("status and disabled contradict each other")
        status = wanted
    if user_id == principal.user_id and (status == "disabled" or body.role is not None):
        raise InvalidRequest("you cannot disable yourself or change your own role")
    record = await user_service.update_user(
        runtime(request), user_id, tenant_id=principal.tenant_id, role=body.role, status=status,
        project_permissions=body.projectPermissions, name=body.name, password=body.password,
        disable_totp=body.totpEnabled is False, granted=principal.scopes, actor=principal.actor,
        fhir_user=(body.fhirUser or "") if "fhirUser" in body.model_fields_set else None)
    return json_response(record.view())


@router.post("/roles", status_code=201, summary="Create a custom role (a named permission set)")
async def create_role(body: CreateRole, request: Request,
                      principal: Principal = Depends(require(perm.ROLE_WRITE))) -> Response:
    record = await role_service.create_role(runtime(request), tenant_id=principal.tenant_id, name=body.name,
                                            permissions=body.permissions, granted=principal.scopes,
                                            actor=principal.actor)
    return json_response(record.view(), 201)


@router.get("/roles", summary="List the roles of the caller's tenant")
async def list_roles(request: Request, principal: Principal = Depends(require(perm.ROLE_READ))) -> Response:
    return json_response([r.view() for r in await role_service.list_roles(runtime(request), principal.tenant_id)])
