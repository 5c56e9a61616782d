"""``POST /api/v1/token/`` — the session token exchange (spec A) — and ``/exchange-users`` (the users seen
through it, per tenant: list, block).

The exchange is a hot endpoint: it is dispatched ahead of FastAPI (:mod:`tokensmith.http.fastpath`), reads
the body itself and validates it with one pydantic model (:mod:`tokensmith.exchange.request`). Order of
checks: API key (401) → browser markers (403) → rate limit (429) → body (400) → user context (403) → 200.
CORS is never enabled here: a preflight gets 405 and no response carries ``Access-Control-Allow-*``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Scope

from tokensmith import permissions as perm
from tokensmith.apikeys import BrowserRefused
from tokensmith.clock import iso_z
from tokensmith.errors import PayloadTooLarge, ValidationFailed
from tokensmith.exchange.request import SessionTokenRequest, parse_session_request
from tokensmith.exchange.service import SessionExchange
from tokensmith.exchange.users import get_exchange_user, list_exchange_users, set_blocked
from tokensmith.http import fastpath
from tokensmith.http.auth import Principal, require
from tokensmith.http.deps import ip_of, request_id, runtime
from tokensmith.http.openapi import API_KEY_ONLY
from tokensmith.http.responses import json_response
from tokensmith.inputs import MAX_OFFSET, NoControl, control_error, has_control

router = APIRouter(tags=["session exchange"])

PATH = "/api/v1/token/"
MAX_BODY = 16 * 1024
_JSON_TYPES = ("application/json",)


def _content_type_ok(value: str | None) -> bool:
    if value is None:
        return True  # lenient: the body is parsed as JSON anyway
    media = value.split(";", 1)[0].strip().lower()
    return media in _JSON_TYPES or (media.startswith("application/") and media.endswith("+json"))


async def _read_body(request: Request) -> bytes:
    """The body, at most ``MAX_BODY`` bytes (read straight from the ASGI channel: this is a hot path)."""
    receive = request.receive
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise PayloadTooLarge(MAX_BODY)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _headers(scope: Scope) -> dict[str, str]:
    # One pass over the raw headers instead of a linear scan per lookup (names are lower case in ASGI).
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}


async def session_token(request: Request) -> Response:
    scope = request.scope
    exchange: SessionExchange = runtime(request).exchange
    headers = _headers(scope)
    ip = ip_of(request) if exchange.trusted_proxies else (scope.get("client") or (None,))[0]
    rid = request_id(request)
    credential = headers.get("x-api-key")
    if credential is not None and has_control(credential):
        raise ValidationFailed([control_error(["header", "x-api-key"])])
    key = await exchange.keys.authenticate(credential, ip=ip, request_id=rid)
    if exchange.keys.refuse_browser(key, headers, ip=ip, request_id=rid, endpoint=PATH):
        exchange.refused(key, "browser markers", ip=ip, request_id=rid)
        raise BrowserRefused()
    await exchange.keys.consume(key, ip=ip, request_id=rid)
    if not _content_type_ok(headers.get("content-type")):
        exchange.refused(key, "invalid request", ip=ip, request_id=rid)
        raise ValidationFailed([{"loc": [], "msg": "Content-Type must be application/json", "type": "content_type"}])
    length = headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY:
        raise PayloadTooLarge(MAX_BODY)
    body = await _read_body(request)
    try:
        user = parse_session_request(body)
    except ValidationFailed:
        exchange.refused(key, "invalid request", ip=ip, request_id=rid)
        raise
    token = await exchange.issue(key, user, ip=ip, request_id=rid)
    return json_response({"token": token.value, "expires_at": iso_z(token.expires_at)}, no_store=True)


_DOC: dict[str, Any] = {
    "security": API_KEY_ONLY,  # the X-API-Key header
    "requestBody": {"required": True, "content": {"application/json": {
        "schema": SessionTokenRequest.model_json_schema()}}},
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "`{\"token\": \"<signed JWT>\", \"expires_at\": \"2025-01-01T14:30:00Z\"}`"},
    400: {"description": "a JSON list of `{\"loc\": [\"organisation\"], \"msg\": \"Field required\", "
                         "\"type\": \"missing\"}` (also for malformed JSON)"},
    401: {"description": "`{\"error\": \"Invalid API key provided\"}`"},
    403: {"description": "`{\"error\": \"Invalid user_id provided\"}` (user blocked in the tenant, or "
                         "organisation not allowed for the key); or a browser-marked request"},
    413: {"description": "body larger than 16 KiB"},
    429: {"description": "`{\"error\": \"Rate limit exceeded\", \"retry_after\": 60}` and `Retry-After`"},
    503: {"description": "database unavailable (Retry-After)"},
}


@router.post(PATH, summary="Session token exchange: an API key gets a short-lived token for one of its users",
             openapi_extra=_DOC, responses=_RESPONSES)
async def session_token_route(request: Request) -> Response:
    return await session_token(request)


@router.post("/api/v1/token", include_in_schema=False)
async def session_token_route_no_slash(request: Request) -> Response:
    return await session_token(request)


# ---- /exchange-users ----

class UpdateExchangeUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    blocked: bool
    notes: Annotated[str, Field(max_length=2000), NoControl] | None = None


def _ctx(request: Request, principal: Principal) -> dict[str, Any]:
    return {"actor": principal.actor, "ip": ip_of(request), "request_id": request_id(request)}


@router.get("/exchange-users", summary="Users seen through the session exchange (newest first)")
async def exchange_users(request: Request, blocked: bool | None = Query(None),
                         organisation: str | None = Query(None, max_length=300),
                         limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=MAX_OFFSET),
                         principal: Principal = Depends(require(perm.EXCHANGE_USER_READ))) -> Response:
    rows = await list_exchange_users(runtime(request), principal.tenant_id, blocked=blocked,
                                     organisation=organisation, limit=limit, offset=offset)
    return json_response(rows)


@router.get("/exchange-users/{user_id:path}", summary="One user seen through the session exchange")
async def exchange_user(user_id: str, request: Request,
                        principal: Principal = Depends(require(perm.EXCHANGE_USER_READ))) -> Response:
    return json_response(await get_exchange_user(runtime(request), principal.tenant_id, user_id))


@router.patch("/exchange-users/{user_id:path}",
              summary="Block or unblock a user (a blocked user gets 403 from the exchange within 1 s)")
async def update_exchange_user(user_id: str, body: UpdateExchangeUser, request: Request,
                               principal: Principal = Depends(require(perm.EXCHANGE_USER_WRITE))) -> Response:
    view = await set_blocked(runtime(request), principal.tenant_id, user_id, body.blocked, notes=body.notes,
                             **_ctx(request, principal))
    return json_response(view)


def setup(app: FastAPI) -> None:
    fastpath.register(app, "POST", PATH, session_token)
    fastpath.register(app, "POST", "/api/v1/token", session_token)
