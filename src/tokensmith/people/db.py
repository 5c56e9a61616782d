"""Database access for the hot people endpoints (sign-in, refresh, user tokens): SQLAlchemy Core on
one pooled connection per request, never the ORM. A pool checkout (with its liveness ping) is the
largest fixed cost of a request, so each request takes one and runs everything on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection


def _autocommit_engine(rt: Any) -> Any:
    engine = rt.extensions.get("people.autocommit_engine")
    if engine is None or engine.pool is not rt.db.engine.pool:
        engine = rt.extensions["people.autocommit_engine"] = rt.db.engine.execution_options(
            isolation_level="AUTOCOMMIT")
    return engine


@asynccontextmanager
async def autocommit(rt: Any) -> AsyncIterator[AsyncConnection]:
    """A connection on which every statement commits by itself (single-statement reads and writes)."""
    async with _autocommit_engine(rt).connect() as conn:
        yield conn


@asynccontextmanager
async def transaction(rt: Any) -> AsyncIterator[AsyncConnection]:
    """A connection in a transaction that commits on success and rolls back on error. On SQLite the
    first statement should be a write, so the write lock is taken before anything is read."""
    async with rt.db.engine.begin() as conn:
        yield conn
