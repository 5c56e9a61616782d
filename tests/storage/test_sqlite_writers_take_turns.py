"""SQLite has one writer per file: writers in one process and in several (``serve --workers N``) take
turns (storage/writer.py) instead of colliding. Each write here reads a counter and then writes it back
incremented — the read-before-write shape that, without a turn, fails at once with "database is locked"
when another writer commits in between (SQLite cannot upgrade such a transaction) and loses increments
if two read the same value. Half the writers go through the async driver statement by statement, half
run their transaction at once on the write lane (storage/lane.py): the two kinds share one turn."""

from __future__ import annotations

import asyncio
import fcntl
import multiprocessing
import os
from pathlib import Path

from sqlalchemy import Connection, text

from tests.support import make_settings
from tokensmith.storage.db import Database

TASKS_PER_PROCESS = 8
WRITES_PER_TASK = 25


async def _increment_many(url: str) -> None:
    db = Database(make_settings(url))
    try:
        async def task() -> None:
            for _ in range(WRITES_PER_TASK):
                async with db.write() as conn:
                    value = (await conn.execute(text("SELECT value FROM counter"))).scalar_one()
                    await asyncio.sleep(0)  # let the other tasks (and processes) try to get in
                    await conn.execute(text("UPDATE counter SET value = :v"), {"v": value + 1})

        def increment(conn: Connection) -> None:
            value = conn.execute(text("SELECT value FROM counter")).scalar_one()
            conn.execute(text("UPDATE counter SET value = :v"), {"v": value + 1})

        async def task_at_once() -> None:
            for _ in range(WRITES_PER_TASK):
                await db.write_at_once(increment)

        await asyncio.gather(*(task() for _ in range(TASKS_PER_PROCESS // 2)),
                             *(task_at_once() for _ in range(TASKS_PER_PROCESS // 2)))
    finally:
        await db.dispose()


def _process(url: str) -> None:
    asyncio.run(_increment_many(url))


async def _prepare(url: str) -> None:
    db = Database(make_settings(url))
    async with db.write() as conn:
        await conn.execute(text("CREATE TABLE counter (value INTEGER NOT NULL)"))
        await conn.execute(text("INSERT INTO counter VALUES (0)"))
    await db.dispose()


async def _value(url: str) -> int:
    db = Database(make_settings(url))
    async with db.engine.connect() as conn:
        value = int((await conn.execute(text("SELECT value FROM counter"))).scalar_one())
    await db.dispose()
    return value


def test_writers_in_two_processes_take_turns_without_locked_errors_or_lost_writes(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/turns.db"
    asyncio.run(_prepare(url))
    spawn = multiprocessing.get_context("spawn")
    workers = [spawn.Process(target=_process, args=(url,)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    # a "database is locked" error (or any other) ends a process with a non-zero exit code
    assert [w.exitcode for w in workers] == [0, 0]
    assert asyncio.run(_value(url)) == 2 * TASKS_PER_PROCESS * WRITES_PER_TASK
    assert (tmp_path / "turns.db.write-lock").exists()


async def test_a_writer_cancelled_while_another_process_writes_gives_the_turn_back(tmp_path: Path) -> None:
    """A request cancelled while it waits for another process's turn (the client went away) must not
    keep the turn once it is handed over: the next writer gets it."""
    db = Database(make_settings(f"sqlite+aiosqlite:///{tmp_path}/cancel.db"))
    try:
        assert db.write_turn is not None and db.write_turn.lock_path is not None
        # another process's turn: an flock on another open file description conflicts like one
        other = os.open(db.write_turn.lock_path, os.O_RDWR | os.O_CREAT)
        fcntl.flock(other, fcntl.LOCK_EX)
        waiter = asyncio.create_task(_write_one(db))
        await asyncio.sleep(0.05)
        assert not waiter.done()  # waiting for the other process
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        fcntl.flock(other, fcntl.LOCK_UN)
        os.close(other)
        await asyncio.wait_for(_write_one(db), timeout=5)
        async with db.engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 1
    finally:
        await db.dispose()


async def _write_one(db: Database) -> None:
    async with db.write() as conn:
        await conn.execute(text("CREATE TABLE IF NOT EXISTS t (x INTEGER)"))
        await conn.execute(text("INSERT INTO t VALUES (1)"))
