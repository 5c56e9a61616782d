"""The console's routes, collected for :mod:`tokensmith.http.app` (one entry in its module list)."""

from __future__ import annotations

from fastapi import APIRouter

from tokensmith.console import account, apikeys, audit, clients, directory, keys, overview, people, smart_apps

router = APIRouter()
MODULES = (overview, apikeys, account, people, clients, smart_apps, directory, keys, audit)
for module in MODULES:
    router.include_router(module.router)
