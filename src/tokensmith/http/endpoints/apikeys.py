"""API key management (spec E): ``/api-keys``, authorised by a Bearer access token whose principal holds
``ApiKey.read`` / ``ApiKey.write``; plus API keys at the introspection endpoint (RFC 7662):
``token=<clientId>:<secret>&token_type_hint=api_key``, and ``X-API-Key`` as the introspection caller.

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
from tokensmith.apikeys import InvalidApiKey, created_view, keys_for, parse_api_key, view
from tokensmith.errors import InvalidClient, UnauthorizedClient, ValidationFailed
from tokensmith.http.auth import Principal, require
from tokensmith.http.deps import ip_of, request_id, runtime
from tokensmith.http.lifespan import on_lifespan
from tokensmith.http.responses import json_response
from tokensmith.inputs import Instant, NoControl
from tokensmith.oauth.introspection import INACTIVE
from tokensmith.oauth.request import OAuthRequest, check_identifier
from tokensmith.services import apikeys as service

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
    return view(record, keys_for(runtime(request)).usage.pending(record.id))


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


# ---- RFC 7662: API keys at the introspection endpoint ----

async def introspect_api_key(rt: Any, token: str, caller: Any) -> dict[str, Any] | None:
    """``token_type_hint=api_key`` (also tried for any token shaped like ``clientId:secret``). An active
    answer counts as one use of the key (rate limit, ``lastUsedAt``): a resource server introspects a key
    when it is presented to it. Over the limit the key is still active, with ``rate_limited: true`` and
    ``retry_after`` (the resource server answers 429)."""
    if parse_api_key(token) is None:
        return None
    keys = keys_for(rt)
    record, reason = await keys.check(token)
    if record is None or reason != "ok":
        if record is not None:
            keys.audit_refusal(record, reason, None, None)
        return INACTIVE
    tenant = getattr(caller, "tenant_id", None)
    if tenant is not None and tenant != record.tenant_id:
        return INACTIVE
    body: dict[str, Any] = {
        "active": True,
        "token_type": "api_key",
        "client_id": record.client_id,
        "sub": record.client_id,
        "api_key_id": record.id,
        "tenant": record.tenant_id,
        "iat": int(record.created_at),
    }
    if record.scopes:
        body["scope"] = " ".join(record.scopes)
    if record.expires_at is not None:
        body["exp"] = int(record.expires_at)
    keys.usage.touch(record.id, rt.clock.now())
    if record.effective_rate_limit is not None:
        body["rate_limit"] = record.effective_rate_limit
        retry = await keys.over_limit(record)
        if retry is not None:
            body["rate_limited"] = True
            body["retry_after"] = retry
    return body


def _api_key_caller(previous: Any) -> Any:
    """``X-API-Key`` authenticates the introspection caller (a resource server holding a key); without the
    header the previous hook, or client authentication, applies."""

    async def hook(request: Request, req: OAuthRequest) -> Any:
        value = req.headers.get("x-api-key")
        if value is None:
            return await previous(request, req) if previous is not None else None
        check_identifier(value, "X-API-Key")
        rt = runtime(request)
        keys = keys_for(rt)
        try:
            record = await keys.authenticate(value, ip=req.client_ip, request_id=req.request_id)
        except InvalidApiKey as exc:
            raise InvalidClient("invalid API key", debug=exc.reason) from None
        if keys.refuse_browser(record, req.headers, ip=req.client_ip, request_id=req.request_id,
                               endpoint="/oauth/introspect"):
            raise UnauthorizedClient("API keys are for servers only: this request carries browser markers")
        await keys.consume(record, ip=req.client_ip, request_id=req.request_id, oauth=True)
        return record

    return hook


def setup(app: Any) -> None:
    rt = app.state.runtime
    keys = keys_for(rt)
    app.state.introspection.register("api_key", introspect_api_key)
    app.state.introspection_caller = _api_key_caller(getattr(app.state, "introspection_caller", None))
    on_lifespan(app, keys.start, keys.stop)
