"""The console's routes, collected for :mod:`tokensmith.http.app` (one entry in its module list)."""

from __future__ import annotations

from fastapi import APIRouter

from tokensmith.console import apikeys, overview

router = APIRouter()
for module in (overview, apikeys):
    router.include_router(module.router)
