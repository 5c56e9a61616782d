"""``GET /audit-events``: the caller's tenant's audit log, newest first, in keyset pages (``Audit.read``)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Query
from starlette.requests import Request
from starlette.responses import Response

from tokensmith import permissions as perm
from tokensmith.audit.listing import MAX_PAGE, Filters, list_events
from tokensmith.errors import InvalidRequest
from tokensmith.http.auth import Principal, require
from tokensmith.http.deps import runtime
from tokensmith.http.responses import json_response

router = APIRouter(tags=["audit"])


def _time(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidRequest(f"{name} must be an ISO 8601 date or time") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@router.get("/audit-events", summary="The tenant's audit events, newest first, filtered, in keyset pages")
async def audit_events(
    request: Request,
    type: str | None = Query(None, max_length=60, description="Only events of this type."),
    actor: str | None = Query(None, max_length=200, description="Only events by this actor."),
    subject: str | None = Query(None, max_length=200, description="Only events about this subject."),
    since: str | None = Query(None, max_length=40, description="Only events at or after this time (ISO 8601)."),
    until: str | None = Query(None, max_length=40, description="Only events before this time (ISO 8601)."),
    cursor: str | None = Query(None, max_length=60, description="`next` of the previous page."),
    limit: int = Query(100, ge=1, le=MAX_PAGE),
    principal: Principal = Depends(require(perm.AUDIT_READ)),
) -> Response:
    filters = Filters(type=type, actor=actor, subject=subject, since=_time("since", since),
                      until=_time("until", until))
    page = await list_events(runtime(request), principal.tenant_id, filters, cursor=cursor, limit=limit)
    return json_response(page)
