"""The database handle: one async engine per process, sessions, and the outage classification that
turns a lost database into a 503 (never a 500) while the pool reconnects by itself."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection, CursorResult, Result, event, text
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from tokensmith.config import Settings
from tokensmith.storage.lane import WriteLane
from tokensmith.storage.writer import Checkpointer, WriteTurn

R = TypeVar("R")

#: sqlite3 waits up to this long for a lock held by a writer outside the write turn (a write-only batch)
_SQLITE_CONNECT = {"timeout": 10}


def _json_dumps(value: Any) -> str:
    """JSON columns are serialised with orjson (the audit writer stores thousands of rows a second)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode()


def _sqlite_pragmas(dbapi_conn: Any, *, background_checkpoints: bool) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    # After a checkpoint the write-ahead log is cut back to this size instead of keeping its peak size.
    cursor.execute("PRAGMA journal_size_limit=67108864")
    if background_checkpoints:  # the Checkpointer does it; no committing request pays for it
        cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


# SQLSTATEs that mean "the database cannot serve right now" rather than "this statement is wrong":
# connection exceptions (08), insufficient resources (53: too many connections, disk full, out of memory),
# operator intervention (57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now, 57014
# statement timeout / query cancelled) and system errors (58).
_OUTAGE_SQLSTATE_CLASSES = ("08", "53", "58")
_OUTAGE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "57014"})


def _sqlstate_means_outage(error: BaseException) -> bool:
    state = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    return isinstance(state, str) and (state.startswith(_OUTAGE_SQLSTATE_CLASSES) or state in _OUTAGE_SQLSTATES)


def is_outage(exc: BaseException) -> bool:
    """True when ``exc`` means "the database (or Redis) cannot be reached" rather than a bug or bad data."""
    if isinstance(exc, OperationalError | InterfaceError | DisconnectionError | PoolTimeoutError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, ConnectionError | TimeoutError | OSError | asyncio.TimeoutError):
        return True
    # the driver's own exception, possibly wrapped by SQLAlchemy (``orig``) or chained (``__cause__``)
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if _sqlstate_means_outage(error):
            return True
        name = type(error).__name__
        if type(error).__module__.startswith("redis") and any(
            cls.__name__ in {"ConnectionError", "TimeoutError"} for cls in type(error).__mro__
        ):
            return True  # Redis (rate limits, fan-out, caches) is as necessary as the database
        if type(error).__module__.startswith("asyncpg") and (
            "Connection" in name or "CannotConnect" in name or name in {"InterfaceError", "InternalClientError"}
        ):
            return True
        error = getattr(error, "orig", None) or error.__cause__
    return False


def rowcount(result: Result[Any]) -> int:
    """The rows a DML statement matched (``AsyncSession.execute`` is typed as returning a plain Result;
    for INSERT/UPDATE/DELETE it is a CursorResult)."""
    assert isinstance(result, CursorResult)
    return result.rowcount
# Data exceptions (class 22: a NUL in text, a value too long, bad encoding) and the errors the drivers and
# the JSON encoder raise before a statement is sent: the row itself cannot be written, so retrying the
# same batch can never succeed.
_DATA_SQLSTATE_CLASS = "22"
_ENCODE_ERRORS = (UnicodeError, ValueError, TypeError, OverflowError)


def is_data_error(exc: BaseException) -> bool:
    """True when ``exc`` means "this row can never be written as it is" (and not "try again later")."""
    if is_outage(exc):
        return False
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        state = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
        if isinstance(state, str) and state.startswith(_DATA_SQLSTATE_CLASS):
            return True
        if isinstance(error, _ENCODE_ERRORS) or type(error).__name__ in {"JSONEncodeError", "DataError"}:
            return True
        error = getattr(error, "orig", None) or error.__cause__
    return False


def describe_db_error(exc: BaseException) -> str:
    """An exception as a log may show it: its class, SQLSTATE and the kind of statement — never the text
    of a database error, which carries the SQL, and values in the driver's message and ``DETAIL``."""
    parts = [type(exc).__name__]
    orig = getattr(exc, "orig", None) or exc.__cause__
    state = None
    for error in (exc, orig):
        state = state or getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    if orig is not None and orig is not exc:
        parts.append(f"({type(orig).__name__})")
    if isinstance(state, str):
        parts.append(f"sqlstate {state}")
    statement = getattr(exc, "statement", None)
    if isinstance(statement, str) and statement.split():
        parts.append(f"in {statement.split()[0].upper()}")
    return " ".join(parts)


class Database:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = settings.database_url
        # A SQLite file cannot drop its connection: no pre-ping round trip per checkout there.
        kwargs: dict[str, Any] = {"pool_pre_ping": not settings.is_sqlite}
        if settings.is_sqlite:
            path = settings.sqlite_path()
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = _SQLITE_CONNECT
        else:
            kwargs.update(
                pool_size=settings.db_pool_size,
                max_overflow=settings.db_pool_size,
                pool_timeout=5,
                pool_recycle=1800,
                connect_args={"timeout": 3, "command_timeout": 10},
            )
        kwargs["json_serializer"] = _json_dumps
        # Bound parameters never appear in an exception's text (and so never in a log line or traceback).
        kwargs["hide_parameters"] = True
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        self._checkpointer: Checkpointer | None = None
        #: SQLite's one-writer-at-a-time turn (None on PostgreSQL, whose writers need no turn)
        self.write_turn: WriteTurn | None = None
        #: a SQLite file's transactions run at once (None elsewhere: storage/lane.py)
        self._lane: WriteLane | None = None
        if settings.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", self._on_sqlite_connect)
            path = settings.sqlite_path()
            self.write_turn = WriteTurn(path.with_name(path.name + ".write-lock") if path is not None else None)
            if path is not None:
                self._lane = WriteLane(self.url, connect_args=_SQLITE_CONNECT, on_connect=self._on_sqlite_connect,
                                       json_serializer=_json_dumps)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._autocommit: AsyncEngine | None = None

    def _on_sqlite_connect(self, dbapi_conn: Any, _record: Any) -> None:
        _sqlite_pragmas(dbapi_conn, background_checkpoints=self._checkpointer is not None)

    async def start_checkpoints(self) -> None:
        """SQLite: checkpoint the WAL in the background from now on (a serving process; a CLI command
        leaves it to SQLite's automatic checkpoints). Pooled connections are reopened so that every
        connection has automatic checkpoints off."""
        if self.write_turn is None or self._checkpointer is not None:
            return
        self._checkpointer = Checkpointer(self.engine)
        await self.engine.dispose()
        if self._lane is not None:
            self._lane.dispose()
        self._checkpointer.start()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a write transaction that commits on success and rolls back on error. On
        SQLite it waits for this file's write turn and begins ``IMMEDIATE`` (see storage/writer.py): the
        block never meets SQLite's busy handler, and may read before it writes. On PostgreSQL a plain
        transaction."""
        if self.write_turn is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self.write_turn.taken(), self.engine.connect() as conn:
            await conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                await conn.rollback()
                raise
            await conn.commit()

    async def write_at_once(self, work: Callable[[Connection], R]) -> R:
        """Run ``work`` as one write transaction (committed when it returns, rolled back when it raises).
        On a SQLite file it runs in the write turn on the write lane's thread, all its statements at once
        (storage/lane.py): the turn is held for the SQL only. Elsewhere it runs like :meth:`write`."""
        if self._lane is not None:
            assert self.write_turn is not None
            async with self.write_turn.taken():
                return await self._lane.run(work)
        async with self.write() as conn:
            return await conn.run_sync(work)

    @asynccontextmanager
    async def write_session(self) -> AsyncIterator[AsyncSession]:
        """:meth:`session` for a transaction that writes: on SQLite it takes the write turn and begins
        ``IMMEDIATE``, like :meth:`write`. A transaction whose first statement is its only write (a batch
        INSERT) needs no turn: SQLite takes its lock at that statement, and nothing read before it can go
        stale -- such batches use :meth:`session` and leave the turn to read-then-write transactions."""
        if self.write_turn is None:
            async with self.session() as session:
                yield session
            return
        async with self.write_turn.taken(), self.session() as session:
            await (await session.connection()).exec_driver_sql("BEGIN IMMEDIATE")
            yield session

    @property
    def autocommit_engine(self) -> AsyncEngine:
        """The engine on which every statement commits by itself (the hot people endpoints: one statement,
        no transaction round trips), on the same pool. Rebuilt after :meth:`dispose`, which replaces the
        pool (an options engine keeps the pool it was made with)."""
        engine = self._autocommit
        if engine is None or engine.pool is not self.engine.pool:
            engine = self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        return engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits on success and rolls back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await asyncio.wait_for(conn.execute(text("SELECT 1")), timeout=3)
            return True
        except Exception as exc:
            if is_outage(exc):
                return False
            raise

    async def dispose(self) -> None:
        if self._checkpointer is not None:
            await self._checkpointer.stop()
            self._checkpointer = None
        await self.engine.dispose()
        if self._lane is not None:
            self._lane.dispose()
