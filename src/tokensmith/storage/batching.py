"""Group commit: requests that arrive while a batch is in flight go to the database together in the next
one — one pool checkout and one statement for many requests, and no waiting when there is nothing to
group (the first request starts at once).

A round trip to the database (and the pool checkout's liveness ping) costs far more CPU than the work
of one statement, so under load this is what keeps ``/auth/refresh``, ``/api/user/oauth2/token`` and
opaque-token issuance fast; without load it changes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from sqlalchemy.exc import DBAPIError

T = TypeVar("T")
R = TypeVar("R")

DEADLOCK = "40P01"


class Batcher(Generic[T, R]):
    def __init__(self, run: Callable[[list[T]], Awaitable[list[R]]], *, max_size: int = 128,
                 max_inflight: int = 2) -> None:
        self._run = run
        self._max_size = max_size
        self._max_inflight = max_inflight
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._inflight = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._queue.append((item, future))
        if self._inflight < self._max_inflight:
            self._inflight += 1
            task = loop.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[:self._max_size], self._queue[self._max_size:]
                live = [(item, future) for item, future in batch if not future.done()]
                if not live:
                    continue
                try:
                    results = await self._run([item for item, _ in live])
                except Exception as exc:
                    for _, future in live:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(live, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._inflight -= 1


def sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)


async def retry_deadlocks(work: Callable[[], Awaitable[R]], attempts: int = 3) -> R:
    """Two batches that lock the same rows in different orders: PostgreSQL aborts one; run it again
    (each batch is one statement, so nothing of it was applied)."""
    for attempt in range(attempts):
        try:
            return await work()
        except DBAPIError as exc:
            if sqlstate(exc) != DEADLOCK or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def database_batcher(dialect: str, run: Callable[[list[T]], Awaitable[list[R]]]) -> Batcher[T, R]:
    """A batcher whose batches write to a database of ``dialect`` (built once per process, by the runtime).
    SQLite has one writer per database: a second batch in flight from this process would only wait for the
    first one's lock."""
    return Batcher(run, max_inflight=1 if dialect == "sqlite" else 2)
