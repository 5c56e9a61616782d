"""Database access for the hot people endpoints (sign-in, refresh, user tokens): SQLAlchemy Core on
one pooled connection per request, never the ORM. A pool checkout (with its liveness ping) is the
largest fixed cost of a request, so each request takes one and runs everything on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from tokensmith.storage.db import Database


class HasDatabase(Protocol):
    """What these helpers need of the runtime."""

    @property
    def db(self) -> Database: ...


@asynccontextmanager
async def autocommit(rt: HasDatabase) -> AsyncIterator[AsyncConnection]:
    """A connection on which every statement commits by itself (single-statement reads and writes)."""
    async with rt.db.autocommit_engine.connect() as conn:
        yield conn


@asynccontextmanager
async def transaction(rt: HasDatabase) -> AsyncIterator[AsyncConnection]:
    """A connection in a write transaction that commits on success and rolls back on error (on SQLite
    in this file's write turn: :meth:`Database.write`)."""
    async with rt.db.write() as conn:
        yield conn


@asynccontextmanager
async def writing(rt: HasDatabase) -> AsyncIterator[AsyncConnection]:
    """A connection for a few statements that write: on PostgreSQL each commits by itself (no
    transaction round trips); on SQLite they run in one transaction in the write turn, so they queue
    for the file's one writer instead of colliding in SQLite's busy handler."""
    if rt.db.write_turn is None:
        async with autocommit(rt) as conn:
            yield conn
    else:
        async with rt.db.write() as conn:
            yield conn


@asynccontextmanager
async def writing_first(rt: HasDatabase) -> AsyncIterator[AsyncConnection]:
    """:func:`writing` for statements whose first one writes (nothing read before it): on SQLite one plain
    transaction, which takes the file's lock at that first write -- no read can go stale, so it needs no
    write turn (that is for read-then-write transactions, storage/writer.py)."""
    if rt.db.write_turn is None:
        async with autocommit(rt) as conn:
            yield conn
    else:
        async with rt.db.engine.begin() as conn:
            yield conn
