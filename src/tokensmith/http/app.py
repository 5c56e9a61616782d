"""The application factory. ``create_app()`` builds everything from settings; nothing at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from tokensmith import __version__
from tokensmith.clock import Clock
from tokensmith.config import Settings, load_settings
from tokensmith.http import errors
from tokensmith.http.endpoints import health, oauth, wellknown
from tokensmith.http.middleware import RequestContextMiddleware
from tokensmith.runtime import Runtime

ENDPOINT_MODULES: list[Any] = [oauth, wellknown, health]


def create_app(settings: Settings | None = None, *, clock: Clock | None = None,
               runtime: Runtime | None = None) -> FastAPI:
    settings = settings or (runtime.settings if runtime else load_settings())
    rt = runtime or Runtime(settings, clock=clock)
    metrics = rt.metrics

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not rt.started:
            await rt.start()
        try:
            yield
        finally:
            if runtime is None:
                await rt.stop()

    app = FastAPI(title="tokensmith", version=__version__, lifespan=lifespan, docs_url="/docs",
                  redoc_url=None, openapi_url="/openapi.json")
    app.state.runtime = rt
    app.state.metrics = metrics
    errors.install(app)
    for module in ENDPOINT_MODULES:
        setup = getattr(module, "setup", None)
        if setup is not None:
            setup(app)
        app.include_router(module.router)
    app.add_middleware(RequestContextMiddleware, runtime_getter=lambda: rt, metrics=metrics)
    return app
