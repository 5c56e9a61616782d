"""The console's routes, collected for :mod:`tokensmith.http.app` (one entry in its module list), and its
:func:`setup`: the caches of the slow figures and their background refresher, stopped with the app."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from tokensmith.console import account, apikeys, audit, chart, clients, directory, keys, overview, people, smart_apps
from tokensmith.console.background import Refresher

router = APIRouter()
MODULES = (overview, apikeys, account, people, clients, smart_apps, directory, keys, audit)
for module in MODULES:
    router.include_router(module.router)


def setup(app: FastAPI) -> None:
    refresher = Refresher()
    app.state.console_activity = chart.ActivityCache(refresher)
    app.state.console_chain = audit.ChainStatus(refresher)
    app.state.shutdown_hooks.append(refresher.stop)
