"""``Database.write_at_once``: a whole write transaction as one synchronous function -- on a SQLite file
on the write lane's thread in the file's write turn (storage/lane.py), elsewhere through the async
connection. It commits when the function returns, rolls back when it raises, and a caller cancelled
while its transaction runs does not hand the turn on before that transaction has ended."""

from __future__ import annotations

import asyncio
import fcntl
import os
import threading
from pathlib import Path

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from tests.support import make_settings
from tokensmith.storage.db import Database


async def _rows(db: Database) -> list[int]:
    async with db.engine.connect() as conn:
        return [int(x) for x in (await conn.execute(text("SELECT x FROM t ORDER BY x"))).scalars()]


class Refused(Exception):
    pass


async def test_the_transaction_commits_on_return_and_rolls_back_on_error(database_url: str) -> None:
    db = Database(make_settings(database_url))
    try:
        async with db.write() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER PRIMARY KEY)"))

        def insert_one(conn: Connection) -> int:
            conn.execute(text("INSERT INTO t VALUES (1)"))
            return int(conn.execute(text("SELECT count(*) FROM t")).scalar_one())

        def insert_two_then_fail(conn: Connection) -> None:
            conn.execute(text("INSERT INTO t VALUES (2)"))
            raise Refused

        assert await db.write_at_once(insert_one) == 1
        with pytest.raises(Refused):
            await db.write_at_once(insert_two_then_fail)
        assert await _rows(db) == [1]
        # a database error inside is the caller's like any other, and leaves nothing behind
        with pytest.raises(IntegrityError):
            await db.write_at_once(insert_one)
        assert await _rows(db) == [1]
    finally:
        await db.dispose()


async def test_a_cancelled_caller_keeps_the_turn_until_its_transaction_has_ended(tmp_path: Path) -> None:
    db = Database(make_settings(f"sqlite+aiosqlite:///{tmp_path}/lane.db"))
    started, release = threading.Event(), threading.Event()
    try:
        async with db.write() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER PRIMARY KEY)"))

        def slow_insert(conn: Connection) -> None:
            conn.execute(text("INSERT INTO t VALUES (1)"))
            started.set()
            release.wait(10)

        first = asyncio.create_task(db.write_at_once(slow_insert))
        assert await asyncio.to_thread(started.wait, 10)
        first.cancel()
        await asyncio.sleep(0.2)  # the cancellation has been delivered...
        assert not first.done()  # ...but the caller waits for its transaction, which still runs:
        assert db.write_turn is not None and db.write_turn.lock_path is not None
        other_process = os.open(db.write_turn.lock_path, os.O_RDWR)
        try:  # the turn is still its own, no other process can take it
            with pytest.raises(BlockingIOError):
                fcntl.flock(other_process, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(other_process)
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await first
        async with db.write() as conn:  # the next writer gets the turn, after the commit
            assert [int(x) for x in (await conn.execute(text("SELECT x FROM t"))).scalars()] == [1]
    finally:
        release.set()
        await db.dispose()


async def test_disposing_the_database_ends_the_lane_thread_and_a_later_transaction_starts_it_again(
        tmp_path: Path) -> None:
    db = Database(make_settings(f"sqlite+aiosqlite:///{tmp_path}/lane.db"))

    def lane_threads() -> int:
        return sum(1 for t in threading.enumerate() if t.name.startswith("sqlite-write"))

    def create(conn: Connection) -> None:
        conn.execute(text("CREATE TABLE t (x INTEGER PRIMARY KEY)"))

    def insert(conn: Connection) -> None:
        conn.execute(text("INSERT INTO t VALUES (1)"))

    before = lane_threads()
    try:
        await db.write_at_once(create)
        assert lane_threads() == before + 1
        await db.dispose()
        assert lane_threads() == before  # a CLI command or a stopped server leaves no thread behind
        await db.write_at_once(insert)
        assert await _rows(db) == [1]
    finally:
        await db.dispose()
    assert lane_threads() == before
