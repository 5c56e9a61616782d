"""The route the guard benchmark measures (``bench/guard.py``): one small JSON answer, served either plain or
behind :mod:`tokensmith.guard` (middleware + a ``Patient.read`` check), one uvicorn worker each.

    GUARD_BENCH_MODE=plain|guarded TOKENSMITH_ISSUER=... TOKENSMITH_GUARD_SERVICE_URL=... \\
    TOKENSMITH_GUARD_CLIENT_ID=... TOKENSMITH_GUARD_CLIENT_SECRET=... \\
    uvicorn --factory bench.guard_app:create --loop uvloop --http httptools
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from tokensmith.guard import Guard, GuardMiddleware, GuardSettings, check, install_error_handler

BODY = b'{"resourceType":"Bundle","type":"searchset","total":0,"entry":[]}'


async def plain(request: Request) -> Response:
    return Response(BODY, media_type="application/json")


async def guarded(request: Request) -> Response:
    await check(request, "Patient.read")
    return Response(BODY, media_type="application/json")


def create() -> ASGIApp:
    if os.environ.get("GUARD_BENCH_MODE") != "guarded":
        return Starlette(routes=[Route("/fhir/Patient", plain)])
    guard = Guard(GuardSettings.from_env())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with guard:
            yield

    app = Starlette(routes=[Route("/fhir/Patient", guarded)], lifespan=lifespan)
    app.state.guard = guard
    install_error_handler(app)
    app.add_middleware(GuardMiddleware, guard=guard)
    return app
