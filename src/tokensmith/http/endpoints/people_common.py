"""Helpers shared by the people endpoints (sign-in, users, sessions, user tokens)."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from tokensmith.errors import Forbidden, InsufficientScope, ValidationFailed
from tokensmith.http.auth import Principal
from tokensmith.http.deps import ip_of, request_id
from tokensmith.http.errors import clean_validation_errors
from tokensmith.people.login import Context

M = TypeVar("M", bound=BaseModel)
MAX_JSON_BODY = 64 * 1024


async def json_body(request: Request, model: type[M]) -> M:
    """Parse and validate a JSON body; failures are the 400 list of ``{"loc", "msg", "type"}``."""
    raw = await request.body()
    if len(raw) > MAX_JSON_BODY:
        raise ValidationFailed([{"loc": [], "msg": "request body too large", "type": "too_large"}])
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        raise ValidationFailed(clean_validation_errors(exc.errors())) from exc


def context(request: Request) -> Context:
    return Context(ip=ip_of(request), user_agent=request.headers.get("user-agent"), request_id=request_id(request))


def json_schema_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` documenting a JSON body that the handler parses itself."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


def user_id_of(principal: Principal) -> str:
    """The calling user's id; clients (client_credentials) have none."""
    if not principal.user_id:
        raise Forbidden("this operation needs a user's access token")
    return principal.user_id


def need(principal: Principal, permission: str) -> None:
    """Like :func:`tokensmith.http.auth.require`, for a permission that depends on the request."""
    if not principal.allows(permission):
        raise InsufficientScope(f"this operation requires the {permission} permission")
