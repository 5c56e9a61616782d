"""The application factory. ``create_app()`` builds everything from settings; nothing at import time."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from tokensmith import __version__
from tokensmith.clock import Clock
from tokensmith.config import Settings, load_settings
from tokensmith.console import routes as console
from tokensmith.http import errors, openapi
from tokensmith.http.deps import refuse_control_characters
from tokensmith.http.endpoints import (
    apikeys,
    audit,
    auth,
    exchange,
    health,
    oauth,
    oidc,
    revocation_feed,
    sessions,
    tenants,
    user_tokens,
    users,
    wellknown,
)
from tokensmith.http.fastpath import FastPathRouter
from tokensmith.http.middleware import RequestContextMiddleware
from tokensmith.observability.access_log import AccessLog
from tokensmith.people import passwords
from tokensmith.runtime import Runtime
from tokensmith.smart import api_apps as smart_apps
from tokensmith.smart import api_directory as smart_directory
from tokensmith.smart import api_wellknown as smart_wellknown
from tokensmith.web import authorize, signin

GC_GEN0_THRESHOLD = 20_000

ENDPOINT_MODULES: list[Any] = [oauth, wellknown, health, auth, users, sessions, user_tokens, apikeys, exchange,
                               audit, tenants, revocation_feed, signin, authorize, oidc, console]
ENDPOINT_MODULES += [smart_apps, smart_directory, smart_wellknown]  # SMART on FHIR (tokensmith.smart)


def tune_gc() -> None:
    """Keep the cyclic GC off the latency tail of a serving process: everything loaded at start-up
    (FastAPI, SQLAlchemy, keys) goes to the permanent generation so that full collections no longer walk
    it, and young collections run less often (request objects are short-lived and mostly acyclic)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, 20, 20)


class TokensmithApp(FastAPI):
    """FastAPI with tokensmith's outermost layers: request context (request id, access log, metrics,
    last-resort error handling) around the fast-path dispatcher, around FastAPI's own stack."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # HTTP goes straight to our stack: FastAPI's own __call__ would first ask OpenTelemetry's global
        # providers (environment look-ups) on every request, for instrumentation tokensmith does not use.
        stack = self.middleware_stack
        if stack is not None and scope["type"] == "http" and not self.root_path:
            scope["app"] = self
            await stack(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def build_middleware_stack(self) -> ASGIApp:
        inner = FastPathRouter(super().build_middleware_stack(), self, self.state.fast_routes)
        rt: Runtime = self.state.runtime
        return RequestContextMiddleware(inner, runtime_getter=lambda: rt, metrics=rt.metrics,
                                        access_log=self.state.access_log)


def create_app(settings: Settings | None = None, *, clock: Clock | None = None,
               runtime: Runtime | None = None) -> FastAPI:
    settings = settings or (runtime.settings if runtime else load_settings())
    rt = runtime or Runtime(settings, clock=clock)
    metrics = rt.metrics

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not rt.started:
            await rt.start()
        if runtime is None:
            tune_gc()
            passwords.size_pool_for_workers(settings.workers)
        try:
            yield
        finally:
            for stop in app.state.shutdown_hooks:  # the features' background tasks, before the runtime closes
                await stop()
            access_log.flush()
            if runtime is None:
                await rt.stop()

    app = TokensmithApp(title="tokensmith", version=__version__, lifespan=lifespan, docs_url=None,
                        redoc_url=None, openapi_url="/openapi.json",
                        dependencies=[Depends(refuse_control_characters)])
    app.state.runtime = rt
    app.state.metrics = metrics
    app.state.authorization = rt.authorization  # built by the runtime; endpoints dispatch to it
    #: ``async () -> None`` callables a module's ``setup`` registers: run when the app shuts down
    app.state.shutdown_hooks = []
    errors.install(app)
    for module in ENDPOINT_MODULES:
        setup = getattr(module, "setup", None)
        if setup is not None:
            setup(app)
        app.include_router(module.router)
    openapi.install(app, title="tokensmith")  # security schemes; /docs with local assets
    access_log = AccessLog(enabled=settings.access_log and settings.log_level in ("DEBUG", "INFO"))
    app.state.access_log = access_log
    app.state.fast_routes = getattr(app.state, "fast_routes", {})
    return app
