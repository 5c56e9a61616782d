"""The lifecycle every write-behind batcher shares (audit events, API keys' ``lastUsedAt``, users seen
by the session exchange): a background task that calls ``flush()`` every ``interval`` seconds and
keeps going through database outages, and a ``stop()`` that cancels it and writes what is left."""

from __future__ import annotations

import asyncio
import logging


class PeriodicFlusher:
    """Subclasses implement :meth:`flush` (and may extend :meth:`tick`); they set ``flusher_name`` and
    ``flusher_log`` and give the interval through :attr:`flush_interval`."""

    flusher_name = "flusher"
    flusher_log = logging.getLogger("tokensmith")

    _task: asyncio.Task[None] | None = None

    @property
    def flush_interval(self) -> float:
        raise NotImplementedError

    async def flush(self) -> int:
        raise NotImplementedError

    async def tick(self) -> None:
        """One background round; by default a flush."""
        await self.flush()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.flusher_name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        try:
            await self.flush()
        except Exception as exc:
            self.flusher_log.error("%s: pending writes lost at shutdown: %s", self.flusher_name,
                                   type(exc).__name__)

    async def _run(self) -> None:
        from tokensmith.storage.db import is_outage

        while True:
            await asyncio.sleep(self.flush_interval)
            try:
                await self.tick()
            except Exception as exc:
                if not is_outage(exc):
                    self.flusher_log.exception("%s failed", self.flusher_name)
