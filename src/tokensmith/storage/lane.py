"""A write transaction run at once: all its statements in one thread, with nothing else in between.

The write turn (storage/writer.py) makes SQLite's writers queue instead of colliding, but a transaction
run statement by statement through the async driver holds the turn far longer than its SQL takes: every
statement is a hop to the driver's thread and back, and at each hop the event loop first runs whatever
other requests are ready (signing, encoding...) before it resumes the transaction. Measured under the
``refresh`` benchmark (two workers): a rotation batch held the turn 11-14 ms for well under a millisecond
of SQL, the audit writer's batch 9-15 ms, and the turn was busy ~85 % of the time -- the one writer of
the file was the bottleneck, with the CPUs a third idle.

:class:`WriteLane` runs the whole transaction -- ``BEGIN IMMEDIATE``, its statements, ``COMMIT`` -- as one
synchronous function on a thread of its own with a synchronous engine on the same file, so the turn is
held for the SQL and the Python between its statements, nothing more. The same function runs on
PostgreSQL (and on an in-memory SQLite database, which another engine could not see) through
``AsyncConnection.run_sync``: one body of code for every backend.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.pool import QueuePool

R = TypeVar("R")


class WriteLane:
    """A synchronous engine on one SQLite file and the one thread that runs its write transactions.
    Callers hold the file's write turn around :meth:`run` (there is one lane per process and one
    transaction on it at a time)."""

    def __init__(self, url: str, *, connect_args: dict[str, Any], on_connect: Callable[[Any, Any], None],
                 json_serializer: Callable[[Any], str]) -> None:
        self.engine: Engine = create_engine(
            url.replace("+aiosqlite", "+pysqlite", 1), poolclass=QueuePool, pool_size=1, max_overflow=0,
            connect_args={**connect_args, "check_same_thread": False}, json_serializer=json_serializer,
            hide_parameters=True)
        event.listen(self.engine, "connect", on_connect)
        self._thread: ThreadPoolExecutor | None = None

    async def run(self, work: Callable[[Connection], R]) -> R:
        """``work`` in one transaction begun IMMEDIATE, committed when it returns and rolled back when it
        raises. A cancelled caller still waits for the transaction to end: the turn it holds must not be
        handed on while the file is being written."""
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-write")
        done = asyncio.get_running_loop().run_in_executor(self._thread, self._transaction, work)
        try:
            return await asyncio.shield(done)
        except asyncio.CancelledError:
            with contextlib.suppress(BaseException):
                await asyncio.wait({done})
            raise

    def _transaction(self, work: Callable[[Connection], R]) -> R:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                result = work(conn)
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
            return result

    def dispose(self) -> None:
        """Close the pooled connection and end the thread (both are made again by the next transaction,
        the connection with the pragmas of then). Called when no transaction runs."""
        self.engine.dispose()
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None
