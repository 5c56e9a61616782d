"""Sessions: ``GET /sessions`` and ``DELETE /sessions/{id}``.

A user manages their own sessions with ``Session.read`` / ``Session.write`` (every built-in role has
them); other users' sessions (``?user_id=``, ``?all=true``) also need ``User.read`` / ``User.write``.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from tokensmith import permissions as perm
from tokensmith.errors import NotFound
from tokensmith.http.auth import Principal, require
from tokensmith.http.deps import ip_of, request_id, runtime
from tokensmith.http.endpoints.people_common import need
from tokensmith.http.responses import json_response
from tokensmith.people import sessions as session_service

router = APIRouter(tags=["sessions"])


@router.get("/sessions", summary="Live sessions: the caller's own, one user's, or the whole tenant's")
async def list_sessions(request: Request, user_id: str | None = None, all: bool = False,
                        include_ended: bool = False,
                        principal: Principal = Depends(require(perm.SESSION_READ))) -> Response:
    if all:
        need(principal, perm.USER_READ)
        target = None
    else:
        target = user_id or principal.user_id
        if target is None:
            need(principal, perm.USER_READ)
        elif target != principal.user_id:
            need(principal, perm.USER_READ)
    records = await session_service.list_sessions(runtime(request), principal.tenant_id, user_id=target,
                                                  include_ended=include_ended)
    return json_response([r.view(principal.session_id) for r in records])


@router.delete("/sessions/{session_id}", status_code=204, summary="Revoke a session and every token under it")
async def revoke_session(session_id: str, request: Request,
                         principal: Principal = Depends(require(perm.SESSION_WRITE))) -> Response:
    rt = runtime(request)
    record = await session_service.get_session(rt, session_id)
    if record is None or record.tenant_id != principal.tenant_id:
        raise NotFound("session not found")
    if record.user_id is None or record.user_id != principal.user_id:
        need(principal, perm.USER_WRITE)
    await session_service.revoke_session(rt, session_id, reason="revoked by " + principal.actor,
                                         actor=principal.actor, ip=ip_of(request), request_id=request_id(request))
    return Response(status_code=204)
