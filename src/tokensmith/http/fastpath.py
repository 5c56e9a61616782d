"""The hot endpoints (token issuance, introspection, the session exchange) are dispatched here, before
FastAPI's own middleware and routing: the same handlers and the same error mapping
(:mod:`tokensmith.http.errors`), without FastAPI's per-request dependency solving, telemetry and
body-limit wrappers — about a fifth of the CPU of a token request. FastAPI still routes everything
else and still documents these endpoints in the OpenAPI description (their APIRoutes stay registered).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from tokensmith.errors import ServiceError
from tokensmith.http.deps import runtime
from tokensmith.http.errors import error_response, unavailable
from tokensmith.storage.db import is_outage

Endpoint = Callable[[Request], Awaitable[Response]]


class _RouteLabel:
    """What the metrics middleware reads from ``scope["route"]``: the route's path."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path


class FastPathRouter:
    def __init__(self, app: ASGIApp, fastapi_app: FastAPI, routes: dict[tuple[str, str], Endpoint]) -> None:
        self.app = app
        self._fastapi_app = fastapi_app
        self._routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self._routes.get((scope.get("method", ""), scope.get("path", ""))) \
            if scope["type"] == "http" else None
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        scope["app"] = self._fastapi_app
        scope["route"] = _RouteLabel(scope["path"])
        request = Request(scope, receive)
        try:
            response = await endpoint(request)
        except ServiceError as exc:
            response = error_response(exc, scope["path"])
        except Exception as exc:
            if not is_outage(exc):
                raise
            response = unavailable(runtime(request).settings, exc, scope["path"])
        await response(scope, receive, send)


def register(app: FastAPI, method: str, path: str, endpoint: Endpoint) -> None:
    routes = getattr(app.state, "fast_routes", None)
    if routes is None:
        routes = app.state.fast_routes = {}
    routes[(method.upper(), path)] = endpoint
