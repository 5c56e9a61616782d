"""``/smart/patients``, ``/smart/practitioners`` (``Directory.read`` / ``Directory.write``) and
``POST /smart/launch`` (``Launch.write``): the launch context's directory and EHR launch values."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.requests import Request
from starlette.responses import Response

from tokensmith import permissions as perm
from tokensmith.errors import ValidationFailed
from tokensmith.http.auth import Principal, require
from tokensmith.http.deps import runtime
from tokensmith.http.responses import json_response
from tokensmith.inputs import MAX_OFFSET, NoControl
from tokensmith.smart import directory
from tokensmith.smart.launch import create_launch

router = APIRouter(tags=["smart directory"])

GivenName = Annotated[str, StringConstraints(max_length=100), NoControl]
FamilyName = Annotated[str, StringConstraints(max_length=200), NoControl]
FhirId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9\-.]+$")]
FhirDate = Annotated[str, StringConstraints(max_length=10, pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$")]
ClientId = Annotated[str, StringConstraints(min_length=1, max_length=100), NoControl]


class HumanName(BaseModel):
    model_config = ConfigDict(extra="forbid")

    given: list[GivenName] = Field(default_factory=list, max_length=directory.MAX_GIVEN)
    family: FamilyName | None = None


class CreatePerson(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: HumanName
    birthDate: FhirDate | None = None
    id: FhirId | None = Field(None, description="The FHIR id; generated when absent.")


class UpdatePerson(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: HumanName | None = None
    birthDate: FhirDate | None = None


class CreateLaunch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    patient: FhirId
    encounter: FhirId | None = None
    clientId: ClientId | None = Field(None, description="Only this app may use the launch value.")


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "validation errors: a list of `{loc, msg, type}`"},
    401: {"description": "missing, invalid, expired or revoked Bearer token"},
    403: {"description": "the caller lacks the permission"},
}
_ONE: dict[int | str, dict[str, Any]] = {**_ERRORS, 404: {"description": "not in the directory"}}


def _routes(kind: str, path: str) -> None:
    """The five routes of one directory (patients or practitioners)."""
    plural = path.rsplit("/", 1)[1]

    async def create(body: CreatePerson, request: Request,
                     principal: Principal = Depends(require(perm.DIRECTORY_WRITE))) -> Response:
        person = await directory.create_person(
            runtime(request), kind, tenant_id=principal.tenant_id, given=body.name.given, family=body.name.family,
            birth_date=body.birthDate, person_id=body.id, actor=principal.actor)
        return json_response(person.view(), 201)

    async def list_(request: Request, q: str | None = Query(None, max_length=200, description="Name words or id."),
                    limit: int = Query(100, ge=1, le=directory.MAX_PAGE), offset: int = Query(0, ge=0, le=MAX_OFFSET),
                    principal: Principal = Depends(require(perm.DIRECTORY_READ))) -> Response:
        people = await directory.list_people(runtime(request), kind, principal.tenant_id, query=q, limit=limit,
                                             offset=offset)
        return json_response([p.view() for p in people])

    async def get(person_id: str, request: Request,
                  principal: Principal = Depends(require(perm.DIRECTORY_READ))) -> Response:
        person = await directory.get_person(runtime(request), kind, principal.tenant_id, person_id)
        return json_response(person.view())

    async def patch(person_id: str, body: UpdatePerson, request: Request,
                    principal: Principal = Depends(require(perm.DIRECTORY_WRITE))) -> Response:
        changes: dict[str, Any] = {}
        if "name" in body.model_fields_set:
            if body.name is None:
                raise ValidationFailed([{"loc": ["name"], "msg": "must not be null", "type": "value_error"}])
            changes.update(given=body.name.given, family=body.name.family)
        if "birthDate" in body.model_fields_set:
            changes["birth_date"] = body.birthDate
        person = await directory.update_person(runtime(request), kind, principal.tenant_id, person_id, changes,
                                               actor=principal.actor)
        return json_response(person.view())

    async def delete(person_id: str, request: Request,
                     principal: Principal = Depends(require(perm.DIRECTORY_WRITE))) -> Response:
        await directory.delete_person(runtime(request), kind, principal.tenant_id, person_id, actor=principal.actor)
        return Response(status_code=204)

    router.add_api_route(path, create, methods=["POST"], status_code=201, responses=_ERRORS,
                         summary=f"Add a {kind.lower()} to the directory", operation_id=f"create_{plural}")
    router.add_api_route(path, list_, methods=["GET"], responses=_ERRORS, operation_id=f"list_{plural}",
                         summary=f"List (or search) the tenant's {plural}")
    router.add_api_route(f"{path}/{{person_id}}", get, methods=["GET"], responses=_ONE,
                         summary=f"One {kind.lower()}", operation_id=f"get_{plural}")
    router.add_api_route(f"{path}/{{person_id}}", patch, methods=["PATCH"], responses=_ONE,
                         summary=f"Change a {kind.lower()}'s name or birth date", operation_id=f"update_{plural}")
    router.add_api_route(f"{path}/{{person_id}}", delete, methods=["DELETE"], status_code=204,
                         responses={**_ONE, 409: {"description": "a user's fhirUser names it"}},
                         summary=f"Remove a {kind.lower()}", operation_id=f"delete_{plural}")


_routes("Patient", "/smart/patients")
_routes("Practitioner", "/smart/practitioners")


@router.post("/smart/launch", status_code=201, responses={**_ONE, 201: {"description": "`{launch, expiresIn}`"}},
             summary="Mint a single-use EHR launch value binding a patient (and optionally an encounter and app)")
async def launch(body: CreateLaunch, request: Request,
                 principal: Principal = Depends(require(perm.LAUNCH_WRITE))) -> Response:
    minted = await create_launch(runtime(request), tenant_id=principal.tenant_id, patient=body.patient,
                                 encounter=body.encounter, client_id=body.clientId, actor=principal.actor)
    return json_response(minted.view(), 201, no_store=True)
