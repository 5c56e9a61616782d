"""The lifecycle every write-behind batcher shares (audit events, API keys' ``lastUsedAt``, users seen
by the session exchange): a background task that calls ``flush()`` every ``interval`` seconds and
keeps going through database outages, and a ``stop()`` that cancels it and writes what is left.

Every writer also keeps a :class:`WriterHealth`: a writer that has had something to write but has not
written it for longer than ``writer_stall_after`` is *stalled* — ``/readyz`` fails naming it, the gauge
``tokensmith_writer_stalled{writer=...}`` is 1 and the log says so once a minute (a writer failing
silently on every batch was invisible before)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from tokensmith.clock import Clock, SystemClock
from tokensmith.storage.db import describe_db_error, is_outage
from tokensmith.tasks import cancel_and_wait

STALL_LOG_EVERY = 60.0
#: Seconds :meth:`PeriodicFlusher.stop` lets a round in progress finish before cancelling it.
STOP_GRACE = 10.0


class WriterHealth:
    """When a writer last made progress, judged on an injectable clock (tests move it by hand)."""

    def __init__(self, name: str, clock: Clock, stall_after: float, logger: logging.Logger) -> None:
        self.name = name
        self.clock = clock
        self.stall_after = stall_after
        self.log = logger
        self.waiting_since: float | None = None  # something to write, not written since then
        self.last_stall_log: float | None = None
        self.metrics: Any = None

    def round_done(self, *, ok: bool, pending: bool) -> None:
        """After one background round: a round that wrote (or had nothing to write) is progress."""
        now = self.clock.now()
        if ok:
            self.waiting_since = now if pending else None
        elif self.waiting_since is None:
            self.waiting_since = now
        self.report(now)

    def stalled(self, now: float | None = None) -> bool:
        now = self.clock.now() if now is None else now
        return self.waiting_since is not None and now - self.waiting_since > self.stall_after

    def report(self, now: float | None = None) -> bool:
        """Set the gauge and, while stalled, log at most once a minute."""
        now = self.clock.now() if now is None else now
        stalled = self.stalled(now)
        if self.metrics is not None:
            self.metrics.child(self.metrics.writer_stalled, self.name).set(1 if stalled else 0)
        if not stalled:
            self.last_stall_log = None
        elif self.last_stall_log is None or now - self.last_stall_log >= STALL_LOG_EVERY:
            self.last_stall_log = now
            since = now - (self.waiting_since or now)
            self.log.error("%s stalled: nothing written for %.0f s although writes are pending", self.name, since,
                           extra={"fields": {"writer": self.name, "stalled_for": round(since, 1)}})
        return stalled

    def dead_letter(self, kind: str, reason: str) -> None:
        """One row set aside: counted, and logged with its kind and the reason only (never its values)."""
        if self.metrics is not None:
            self.metrics.child(self.metrics.dead_letters, self.name).inc()
        self.log.error("%s: unwritable %s set aside (%s)", self.name, kind, reason,
                       extra={"fields": {"writer": self.name, "kind": kind, "reason": reason}})


class PeriodicFlusher:
    """Subclasses implement :meth:`flush` and :attr:`has_pending` (and may extend :meth:`tick`); they set
    ``flusher_name`` and ``flusher_log``, give the interval through :attr:`flush_interval` and call
    :meth:`init_health`."""

    flusher_name = "flusher"
    flusher_log = logging.getLogger("tokensmith")

    _task: asyncio.Task[None] | None = None
    #: the background task is inside a round (a batch may be half-written)
    writing = False
    _stopping = False
    health: WriterHealth

    def init_health(self, clock: Clock | None, stall_after: float, metrics: Any = None) -> None:
        self.health = WriterHealth(self.flusher_name, clock or SystemClock(), stall_after, self.flusher_log)
        self.health.metrics = metrics

    @property
    def flush_interval(self) -> float:
        raise NotImplementedError

    @property
    def has_pending(self) -> bool:
        raise NotImplementedError

    async def flush(self) -> int:
        raise NotImplementedError

    async def tick(self) -> None:
        """One background round; by default a flush."""
        await self.flush()

    async def run_round(self) -> None:
        """One round with its bookkeeping: the background task's body (tests call it directly)."""
        try:
            await self.tick()
        except Exception as exc:
            self.health.round_done(ok=False, pending=True)
            if not is_outage(exc):
                self.flusher_log.error("%s failed: %s", self.flusher_name, describe_db_error(exc))
            return
        self.health.round_done(ok=True, pending=self.has_pending)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.flusher_name)

    async def stop(self) -> None:
        """End the background task, then write what is left. A round in progress is let finish (for at
        most :data:`STOP_GRACE` seconds): cancelling a batch in the middle of a database call can strand the
        connection it ran on, still holding SQLite's write lock, and the final flush below would then wait
        for that lock for ever."""
        task, self._task = self._task, None
        if task is not None:
            self._stopping = True
            if self.writing:
                await asyncio.wait({task}, timeout=STOP_GRACE)
            await cancel_and_wait(task)
            self._stopping = False
        try:
            await self.flush()
        except Exception as exc:
            self.flusher_log.error("%s: pending writes lost at shutdown: %s", self.flusher_name,
                                   describe_db_error(exc))

    async def _run(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.flush_interval)
            self.writing = True
            try:
                await self.run_round()
            finally:
                self.writing = False
