"""SQLite's write turn: one writer at a time per database file, handed over instead of fought over.

SQLite admits one write transaction per file. Writers that simply collide are parked in SQLite's busy
handler, which sleeps 1, 2, 5, 10… ms between attempts without knowing when the lock is freed, and a
transaction that read before it wrote cannot be upgraded at all once another writer has committed
("database is locked" at once, whatever ``busy_timeout`` says). Under load this made the embedded default
the slow path (``/auth/refresh`` at a tenth of PostgreSQL's figure).

So writers queue up instead: inside a process on an :class:`asyncio.Lock`, across the processes of
``serve --workers N`` on an ``flock`` of a file beside the database (``<db>.write-lock``); the holder then
starts its transaction with ``BEGIN IMMEDIATE``, so it owns SQLite's write lock before it reads anything,
and never meets the busy handler. The flock is tried without blocking first (no cost when nobody else
writes); when another process holds it, a thread waits for it, so the event loop never blocks. Each turn
opens its own descriptor: a waiting thread abandoned by a cancelled request then holds a lock of its own,
released as soon as it is granted, and cannot be mistaken for the next turn's.

The WAL is checkpointed by a background task (:class:`Checkpointer`, once a second) instead of by
whichever request's commit crossed SQLite's automatic threshold.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from tokensmith.tasks import cancel_and_wait

log = logging.getLogger("tokensmith.storage")

#: How often the background task folds the write-ahead log back into the database file.
CHECKPOINT_INTERVAL = 1.0


def _release(fd: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


class WriteTurn:
    """The right to write to one SQLite file: :meth:`taken` waits for it and holds it for its block."""

    def __init__(self, lock_path: Path | None) -> None:
        #: None for an in-memory database, which only this process can see
        self.lock_path = lock_path
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def taken(self) -> AsyncIterator[None]:
        async with self._lock:
            fd = await self._flock() if self.lock_path is not None else None
            try:
                yield
            finally:
                if fd is not None:
                    _release(fd)

    async def _flock(self) -> int:
        assert self.lock_path is not None
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            pass
        except BaseException:
            os.close(fd)
            raise
        waiting = asyncio.get_running_loop().run_in_executor(None, fcntl.flock, fd, fcntl.LOCK_EX)
        try:
            await asyncio.shield(waiting)
        except asyncio.CancelledError:
            # the thread goes on waiting; whatever it gets is given back at once
            waiting.add_done_callback(lambda _f: _release(fd))
            raise
        except BaseException:
            os.close(fd)
            raise
        return fd


class Checkpointer:
    """Runs ``PRAGMA wal_checkpoint(PASSIVE)`` every :data:`CHECKPOINT_INTERVAL` seconds (connections are
    opened with ``wal_autocheckpoint=0``, so no committing request does it). PASSIVE never waits for
    readers or writers: a checkpoint that cannot finish now finishes on a later round."""

    def __init__(self, engine: AsyncEngine, interval: float = CHECKPOINT_INTERVAL) -> None:
        self._engine = engine
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    async def checkpoint(self) -> None:
        async with self._engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="sqlite-checkpoint")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        with contextlib.suppress(Exception):
            await self.checkpoint()  # leave a short log behind

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.checkpoint()
            except Exception as exc:  # a busy or missing file: the next round tries again
                log.warning("WAL checkpoint failed: %s", type(exc).__name__)
