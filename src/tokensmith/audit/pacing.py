"""Keeping an archive run from taking the service's cores: a rate cap and a lower CPU priority.

Archiving and pruning millions of events is bulk work next to latency-sensitive token requests. Two
knobs bound what it takes from them: :class:`Pacer` holds the run to a target number of events per
second (it sleeps between bounded batches once it is ahead of schedule, so the database's share of the
work -- reads, deletes, their WAL -- is capped too, not only ours), and :func:`niced_executor` runs the
CPU part (chain check, JSON, gzip) in one thread of lower scheduling priority, which the kernel lets
run freely on an idle machine and starves first on a busy one.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field


@dataclass
class Pacer:
    """At most ``rate`` events per second on average since the first :meth:`step` (0: no cap). The
    clock and the sleep are injected so that tests check the schedule without waiting for it."""

    rate: float = 0.0
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    done: int = 0
    slept: float = 0.0
    _started: float | None = field(default=None, repr=False)

    async def step(self, events: int) -> None:
        """Count ``events`` as done; sleep until the schedule allows the next batch. Always yields to the
        event loop, so that writers get in between batches even without a cap."""
        if self._started is None:
            self._started = self.monotonic()
        self.done += events
        ahead = self._started + self.done / self.rate - self.monotonic() if self.rate > 0 else 0.0
        self.slept += max(ahead, 0.0)
        await self.sleep(max(ahead, 0.0))


@dataclass(frozen=True)
class Pacing:
    """How an archive run is paced: ``rate`` events per second for the archive and again for the prune
    (0: as fast as it goes), its CPU work at ``nice``."""

    rate: float = 0.0
    nice: int = 0
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def pacer(self) -> Pacer:
        return Pacer(self.rate, self.monotonic, self.sleep)

    def batch(self, largest: int) -> int:
        """A batch of at most a tenth of a second's budget, so that the pace is smooth."""
        return largest if self.rate <= 0 else max(100, min(largest, int(self.rate / 10)))


def _lower_priority(nice: int) -> None:
    """Lower this thread's priority (Linux schedules threads on their own; elsewhere a thread id is no
    process id and the call is skipped rather than aimed at some other process)."""
    if nice > 0 and sys.platform == "linux":
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
        except OSError:
            pass


def niced_executor(nice: int) -> ThreadPoolExecutor:
    """One worker thread at ``nice`` (0: as the rest of the process)."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-archive", initializer=_lower_priority,
                              initargs=(nice,))


__all__ = ["Pacer", "Pacing", "niced_executor"]
