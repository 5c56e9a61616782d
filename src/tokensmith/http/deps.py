"""Small helpers shared by endpoint modules."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request

from tokensmith.http.client_ip import client_ip
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
