"""Feature components with background work (batch flushers) hook into the application's lifespan here,
from their endpoint module's ``setup(app)``: started after the runtime, stopped (and flushed) before it."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any


def on_lifespan(app: Any, start: Callable[[], Awaitable[None] | None], stop: Callable[[], Awaitable[None]]) -> None:
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        async with inner(application) as state:
            result = start()
            if inspect.isawaitable(result):
                await result
            try:
                yield state
            finally:
                await stop()

    app.router.lifespan_context = lifespan
