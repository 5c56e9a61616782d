"""Small helpers shared by endpoint modules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from tokensmith.errors import ValidationFailed
from tokensmith.http.client_ip import client_ip
from tokensmith.inputs import control_error, has_control
from tokensmith.oauth.request import OAuthRequest, parse_form

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def request_id(request: Request) -> str | None:
    state = request.scope.get("state") or {}
    rid = state.get("request_id")
    return rid if isinstance(rid, str) else None


def ip_of(request: Request) -> str | None:
    return client_ip(request, runtime(request).settings.trusted_proxies)


async def oauth_request(request: Request) -> OAuthRequest:
    form = parse_form(request.headers.get("content-type"), await request.body())
    return OAuthRequest(form=form, headers=request.headers, client_ip=ip_of(request),
                        request_id=request_id(request), path=request.scope.get("path"))


async def refuse_control_characters(request: Request) -> None:
    """The input rule (:mod:`tokensmith.inputs`) for the path and query parameters of every FastAPI route:
    installed once as an application dependency, so a route added later is covered too. Only the query
    parameters a route declares are checked (the others are ignored by it, and never stored)."""
    problems: list[dict[str, Any]] = [control_error(["path", name]) for name, value in request.path_params.items()
                                      if isinstance(value, str) and has_control(value)]
    route = request.scope.get("route")
    declared = getattr(getattr(route, "dependant", None), "query_params", None)
    if declared and request.scope.get("query_string"):
        query = request.query_params
        for param in declared:
            if any(has_control(value) for value in query.getlist(param.alias)):
                problems.append(control_error(["query", param.alias]))
    if problems:
        raise ValidationFailed(problems)
