"""The console's slow figures (the overview's activity counts, the audit chain's verification) are
computed off the request: a page shows the last result and, when it is due, starts one computation in the
background, so no page ever waits for a count or a walk of the chain (issue 12: every page under 100 ms).

:class:`Refresher` runs at most one computation per key at a time, logs a failure (the next visit tries
again) and is stopped with the app (:func:`tokensmith.console.routes.setup` registers it), so nothing runs
against a closed database."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from tokensmith.tasks import cancel_and_wait

log = logging.getLogger("tokensmith.console")


class Refresher:
    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopped = False

    def start(self, key: str, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work`` in the background unless the computation of ``key`` is already running."""
        running = self._tasks.get(key)
        if self._stopped or (running is not None and not running.done()):
            return
        self._tasks[key] = asyncio.create_task(self._run(key, work), name=f"console-refresh:{key}")

    async def _run(self, key: str, work: Callable[[], Awaitable[None]]) -> None:
        try:
            await work()
        except Exception as exc:  # a page shows the previous figures; the next one due tries again
            log.warning("console background refresh %s failed: %s", key.split(":", 1)[0], type(exc).__name__)
        finally:
            if self._tasks.get(key) is asyncio.current_task():
                del self._tasks[key]

    def running(self, key: str) -> bool:
        task = self._tasks.get(key)
        return task is not None and not task.done()

    async def wait(self, key: str | None = None) -> None:
        """Until the computations of ``key`` (all with None) end: for tests and the benchmark, never a page."""
        tasks = [t for k, t in list(self._tasks.items()) if key is None or k == key]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def stop(self) -> None:
        self._stopped = True
        await cancel_and_wait(*self._tasks.values())
        self._tasks.clear()
