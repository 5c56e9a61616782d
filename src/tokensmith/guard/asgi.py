"""The guard in an application: ASGI middleware that authenticates every request (the principal goes in
``request.state.principal``), and route-level checks — ``Depends(requires("Patient.read"))`` in FastAPI,
``await check(request, "Patient.read")`` in a plain Starlette handler. Refusals are RFC 6750 responses
(:mod:`tokensmith.guard.errors`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from tokensmith.errors import ServiceError
from tokensmith.guard.core import Guard, headers_of
from tokensmith.guard.errors import error_response
from tokensmith.guard.principal import Principal

#: where the middleware puts the guard and the principal in the ASGI scope
GUARD_KEY = "tokensmith.guard"


class GuardMiddleware:
    """Authenticates every HTTP request but those to ``public_paths`` (health checks, metrics); a request
    without a valid credential never reaches the application."""

    def __init__(self, app: ASGIApp, guard: Guard, *, public_paths: Collection[str] = ()) -> None:
        self.app = app
        self.guard = guard
        self.public_paths = frozenset(public_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope[GUARD_KEY] = self.guard
        if scope["path"] in self.public_paths:
            await self.app(scope, receive, send)
            return
        authorization, api_key, browser = headers_of(scope["headers"])
        try:
            principal = await self.guard.authenticate(authorization, api_key, browser=browser)
        except ServiceError as exc:
            await error_response(exc)(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["principal"] = principal
        await self.app(scope, receive, send)


def _guard_of(request: Request) -> Guard:
    guard = request.scope.get(GUARD_KEY) or getattr(request.app.state, "guard", None)
    if not isinstance(guard, Guard):
        raise RuntimeError("no guard: add GuardMiddleware or set app.state.guard")
    return guard


async def check(request: Request, *scopes: str) -> Principal:
    """The request's principal, which must hold every one of ``scopes``; raises the RFC 6750 refusal
    (a :class:`ServiceError`; :func:`install_error_handler` turns it into the response)."""
    principal = getattr(request.state, "principal", None)
    guard = _guard_of(request)
    if not isinstance(principal, Principal):
        authorization, api_key, browser = headers_of(request.scope["headers"])
        principal = await guard.authenticate(authorization, api_key, browser=browser)
        request.state.principal = principal
    if scopes:
        guard.authorize(principal, scopes)
    return principal


def requires(*scopes: str) -> Callable[[Request], Awaitable[Principal]]:
    """A FastAPI dependency: ``principal: Principal = Depends(requires("Patient.read"))``."""

    async def dependency(request: Request) -> Principal:
        return await check(request, *scopes)

    dependency.__name__ = "requires_" + "_".join(s.replace(".", "_").replace("/", "_") for s in scopes)
    return dependency


async def _handle(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    return error_response(exc)


def install_error_handler(app: object) -> None:
    """Render the guard's refusals raised in dependencies and handlers (Starlette or FastAPI ``app``)."""
    add = getattr(app, "add_exception_handler")  # noqa: B009 - both frameworks, one signature
    add(ServiceError, _handle)
