"""``GET /revocations/feed``: the revocation feed for resource-server guards (:mod:`tokensmith.guard`).

The caller authenticates as introspection callers do (an OAuth client — ``client_secret_basic`` /
``client_secret_post`` — or ``X-API-Key``) and must hold the dedicated ``Revocation.read`` scope, named
explicitly: the feed spans every tenant (it carries identifiers, never secrets), so no wildcard stands for it.
"""

from __future__ import annotations

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from tokensmith.apikeys.records import ApiKeyRecord
from tokensmith.clients import ClientRecord
from tokensmith.errors import InsufficientScope
from tokensmith.http.deps import ip_of, request_id, runtime
from tokensmith.http.openapi import CLIENT_OR_API_KEY
from tokensmith.http.responses import json_response
from tokensmith.oauth.request import OAuthRequest
from tokensmith.oauth.server import INTROSPECTION_CALLERS, AuthorizationServer
from tokensmith.revocation.http_feed import MAX_WAIT, parse_cursor, read_page

router = APIRouter(tags=["revocation"])

FEED_SCOPE = "Revocation.read"
_GRANTING = frozenset({FEED_SCOPE, "Revocation.*"})


def may_read_feed(scopes: tuple[str, ...]) -> bool:
    return any(scope in _GRANTING for scope in scopes)


def _scopes_of(caller: ClientRecord | ApiKeyRecord) -> tuple[str, ...]:
    """What the caller may hold: a client's allowed scopes, an API key's scopes."""
    return caller.allowed_scopes if isinstance(caller, ClientRecord) else caller.scopes


@router.get("/revocations/feed", summary="Revocation feed for resource-server guards (long poll)",
            openapi_extra={"security": CLIENT_OR_API_KEY},
            responses={200: {"description": "`{entries: [...], cursor}` (docs/guard.md)"},
                       401: {"description": "invalid_client"},
                       403: {"description": "insufficient_scope: Revocation.read is required"}})
async def revocation_feed(
    request: Request,
    after: str | None = Query(None, max_length=40, description="The cursor of the previous response."),
    wait: float = Query(0.0, ge=0.0, le=MAX_WAIT, description="Seconds to wait for a new entry."),
) -> Response:
    server: AuthorizationServer = request.app.state.authorization
    # a GET: the credentials are in headers (Basic or X-API-Key), there is no form
    req = OAuthRequest(form={}, headers=request.headers, client_ip=ip_of(request), request_id=request_id(request),
                       path=request.scope.get("path"))
    presented = server.client_auth.identify(req, INTROSPECTION_CALLERS)
    caller: ClientRecord | ApiKeyRecord = await presented.method.authenticate(presented, req)
    if not may_read_feed(_scopes_of(caller)):
        raise InsufficientScope(f"the revocation feed requires the {FEED_SCOPE} scope")
    cursor = parse_cursor(after)
    page = await read_page(runtime(request), cursor, wait, gone=request.is_disconnected)
    return json_response(page, no_store=True)
