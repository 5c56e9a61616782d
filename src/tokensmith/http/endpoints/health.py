"""``/healthz`` (the process answers), ``/readyz`` (database and Redis reachable, keys and revocations loaded,
no background writer stalled), ``/metrics``."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from redis.asyncio import Redis
from starlette.requests import Request
from starlette.responses import Response

from tokensmith.http.deps import runtime
from tokensmith.http.responses import json_response

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness")
async def healthz() -> Response:
    return json_response({"status": "ok"})


@router.get("/readyz", summary="Readiness: database reachable, signing keys and revocations loaded, no background "
            "writer stalled")
async def readyz(request: Request) -> Response:
    rt = runtime(request)
    db_ok = await rt.db.ping()
    if db_ok and not rt.loaded:
        try:
            await rt.ensure_loaded()
        except Exception:  # noqa: S110 - reported as not ready below
            pass
    checks = {"database": "ok" if db_ok else "unreachable",
              "signing_key": "ok" if rt.keyring.active is not None else "missing",
              "revocations": "ok" if rt.revocations_loaded else "not_loaded"}
    stalled = rt.stalled_writers()
    checks["writers"] = "ok" if not stalled else "stalled: " + ", ".join(stalled)
    ready = db_ok and rt.loaded and not stalled
    if rt.redis is not None:
        redis_ok = await _redis_ok(rt.redis)
        checks["redis"] = "ok" if redis_ok else "unreachable"
        ready = ready and redis_ok
    headers = {} if ready else {"Retry-After": str(rt.settings.db_retry_after)}
    return json_response({"status": "ready" if ready else "not_ready", "checks": checks},
                         200 if ready else 503, headers)


async def _redis_ok(redis: Redis) -> bool:
    try:
        return bool(await asyncio.wait_for(redis.ping(), timeout=2))
    except Exception:
        return False


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    runtime(request).stalled_writers()  # refresh this process's stall gauges
    return Response(request.app.state.metrics.render(), media_type="text/plain; version=0.0.4")
