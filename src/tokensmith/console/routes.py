"""The console's routes, collected for :mod:`tokensmith.http.app` (one entry in its module list)."""

from __future__ import annotations

from fastapi import APIRouter

from tokensmith.console import account, apikeys, audit, clients, keys, overview, people

router = APIRouter()
MODULES = (overview, apikeys, account, people, clients, keys, audit)
for module in MODULES:
    router.include_router(module.router)
