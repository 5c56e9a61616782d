"""API key management (spec E): ``/api-keys``, authorised by a Bearer access token whose principal holds
``ApiKey.read`` / ``ApiKey.write``. API keys at the introspection endpoint (RFC 7662) and as a caller are
protocol features: :mod:`tokensmith.apikeys.introspection` and :mod:`tokensmith.apikeys.caller`.

Errors are ``{"error": "<message>"}`` (400 validation errors are the usual list of ``{loc, msg, type}``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.requests import Request
from starlette.responses import Response

from tokensmith import permissions as perm
from tokensmith.apikeys import created_view, view
from tokensmith.apikeys import management as service
from tokensmith.errors import ValidationFailed
from tokensmith.http.auth import Principal, require
from tokensmith.http.deps import ip_of, request_id, runtime
from tokensmith.http.responses import json_response
from tokensmith.inputs import Instant, NoControl

router = APIRouter(tags=["api keys"])

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NoControl]
Scope = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[\x21\x23-\x5B\x5D-\x7E]+$")]
Organisation = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300), NoControl]
RateLimit = Annotated[int, Field(ge=1, le=service.MAX_RATE_LIMIT)]
TokenTtl = Annotated[int, Field(ge=service.MIN_TOKEN_TTL)]


class CreateApiKey(BaseModel):
    """``POST /api-keys``: the spec's fields, plus the key's session-token settings."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    scopes: list[Scope] = Field(max_length=service.MAX_SCOPES)
    expiresAt: Instant | None = None
    rateLimit: RateLimit | None = Field(None, description="Requests per minute; null: the tenant default.")
    tokenTtl: TokenTtl | None = Field(None, description="Lifetime (s) of the session tokens this key obtains.")
    allowedOrganisations: list[Organisation] | None = Field(
        None, max_length=service.MAX_ORGANISATIONS,
        description="Organisations the key may obtain session tokens for; null: any.")
    allowBrowser: bool = Field(False, description="Accept requests with browser markers (not recommended).")


class UpdateApiKey(BaseModel):
    """``PATCH /api-keys/{id}``: only the fields present change (null clears expiresAt, rateLimit and
    allowedOrganisations)."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    scopes: list[Scope] | None = Field(None, max_length=service.MAX_SCOPES)
    active: bool | None = None
    expiresAt: Instant | None = None
    rateLimit: RateLimit | None = None
    tokenTtl: TokenTtl | None = None
    allowedOrganisations: list[Organisation] | None = Field(None, max_length=service.MAX_ORGANISATIONS)
    allowBrowser: bool | None = None


class RotateApiKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gracePeriodSeconds: int = Field(0, ge=0, description="Seconds the old secret keeps working (default: none).")


_PYTHON_NAMES = {"name": "name", "scopes": "scopes", "active": "active", "expiresAt": "expires_at",
                 "rateLimit": "rate_limit", "tokenTtl": "token_ttl", "allowedOrganisations": "allowed_organisations",
                 "allowBrowser": "allow_browser"}
_NOT_NULL = {"name": ("string_type", "Input should be a valid string"),
             "scopes": ("list_type", "Input should be a valid list"),
             "active": ("bool_type", "Input should be a valid boolean"),
             "tokenTtl": ("int_type", "Input should be a valid integer"),
             "allowBrowser": ("bool_type", "Input should be a valid boolean")}
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "validation errors: a list of `{loc, msg, type}`"},
    401: {"description": "missing, invalid, expired or revoked Bearer token"},
    403: {"description": "the caller lacks the permission, or asks for scopes beyond its own"},
}


def _ts(value: datetime | None) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def _context(request: Request, principal: Principal) -> dict[str, Any]:
    return {"actor": principal.actor, "ip": ip_of(request), "request_id": request_id(request)}


def _view(request: Request, record: Any) -> dict[str, Any]:
    return view(record, runtime(request).apikeys.usage.pending(record.id))


@router.post("/api-keys", status_code=201, summary="Create an API key (the secret is returned only here)",
             responses={**_ERRORS, 201: {"description": "`{id, name, clientId, secret, scopes, expiresAt, active, "
                                         "rateLimit, createdAt}`"}})
async def create_api_key(body: CreateApiKey, request: Request,
                         principal: Principal = Depends(require(perm.API_KEY_WRITE))) -> Response:
    record, secret = await service.create_api_key(
        runtime(request), tenant_id=principal.tenant_id, name=body.name, scopes=body.scopes,
        expires_at=_ts(body.expiresAt), rate_limit=body.rateLimit, token_ttl=body.tokenTtl,
        allowed_organisations=body.allowedOrganisations, allow_browser=body.allowBrowser,
        creator_scopes=principal.scopes, **_context(request, principal))
    return json_response(created_view(record, secret), 201, no_store=True)


@router.get("/api-keys", summary="List the API keys of the caller's tenant (never their secrets)",
            responses=_ERRORS)
async def list_api_keys(request: Request, include_revoked: bool = Query(False, alias="includeRevoked"),
                        principal: Principal = Depends(require(perm.API_KEY_READ))) -> Response:
    records = await service.list_api_keys(runtime(request), principal.tenant_id, include_revoked=include_revoked)
    return json_response([_view(request, r) for r in records])


@router.get("/api-keys/{key_id}", summary="One API key (never its secret)",
            responses={**_ERRORS, 404: {"description": "`{\"error\": \"API key not found\"}`"}})
async def get_api_key(key_id: str, request: Request,
                      principal: Principal = Depends(require(perm.API_KEY_READ))) -> Response:
    record = await service.get_api_key(runtime(request), principal.tenant_id, key_id)
    return json_response(_view(request, record))


@router.patch("/api-keys/{key_id}", summary="Change name, scopes, active, rateLimit, expiresAt, …",
              responses={**_ERRORS, 404: {"description": "not found"}, 409: {"description": "the key is revoked"}})
async def update_api_key(key_id: str, body: UpdateApiKey, request: Request,
                         principal: Principal = Depends(require(perm.API_KEY_WRITE))) -> Response:
    changes: dict[str, Any] = {}
    problems = []
    for field in body.model_fields_set:
        value = getattr(body, field)
        if value is None and field in _NOT_NULL:
            kind, msg = _NOT_NULL[field]
            problems.append({"loc": [field], "msg": msg, "type": kind})
            continue
        changes[_PYTHON_NAMES[field]] = _ts(value) if field == "expiresAt" else value
    if problems:
        raise ValidationFailed(problems)
    rt = runtime(request)
    if not changes:
        record = await service.get_api_key(rt, principal.tenant_id, key_id)
    else:
        record = await service.update_api_key(rt, principal.tenant_id, key_id, changes,
                                              creator_scopes=principal.scopes, **_context(request, principal))
    return json_response(_view(request, record))


@router.delete("/api-keys/{key_id}", status_code=204, summary="Revoke an API key (fails everywhere within 1 s)",
               responses={**_ERRORS, 404: {"description": "not found"}})
async def revoke_api_key(key_id: str, request: Request,
                         principal: Principal = Depends(require(perm.API_KEY_WRITE))) -> Response:
    await service.revoke_api_key(runtime(request), principal.tenant_id, key_id, **_context(request, principal))
    return Response(status_code=204)


@router.post("/api-keys/{key_id}/rotate", summary="New secret (returned once); optional grace for the old one",
             responses={**_ERRORS, 404: {"description": "not found"}, 409: {"description": "the key is revoked"}})
async def rotate_api_key(key_id: str, request: Request, body: RotateApiKey | None = Body(None),
                         principal: Principal = Depends(require(perm.API_KEY_WRITE))) -> Response:
    grace = body.gracePeriodSeconds if body is not None else 0
    record, secret = await service.rotate_api_key(runtime(request), principal.tenant_id, key_id,
                                                  grace_seconds=grace, creator_scopes=principal.scopes,
                                                  **_context(request, principal))
    created = created_view(record, secret)
    created["previousSecretExpiresAt"] = view(record)["previousSecretExpiresAt"]
    return json_response(created, 200, no_store=True)

