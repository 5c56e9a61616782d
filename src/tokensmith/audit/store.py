"""Reading the audit table at volume: rows straight from the database driver, in large keyset chunks
(``seq > last ORDER BY seq LIMIT n``: each chunk is one primary-key range scan, whatever the table's
size), the next chunk fetched while the current one is checked. No ORM objects, no per-row type
processing: the columns are decoded only where a reader needs them (export, archive)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from tokensmith.audit.chain import RawRow
from tokensmith.storage.compact import from_micros, unpack_text
from tokensmith.storage.db import Database
from tokensmith.storage.models import AuditEvent
from tokensmith.storage.shapes import data_json

COLUMNS = "seq, id, at, type_code, tenant_code, actor_code, subject, ip, request_id, data, hash, shape_code"
CHUNK = 20_000


def _query(dialect: str, until: bool) -> str:
    p = ("$1", "$2", "$3") if dialect == "postgresql" else ("?", "?", "?")
    bound = f" AND seq <= {p[2]}" if until else ""
    return f"SELECT {COLUMNS} FROM audit_events WHERE seq > {p[0]}{bound} ORDER BY seq LIMIT {p[1]}"  # noqa: S608


async def raw_chunks(db: Database, after: int = 0, until: int | None = None,
                     chunk: int = CHUNK) -> AsyncIterator[list[RawRow]]:
    """Rows with ``after < seq [<= until]`` in order, as lists of driver rows (tuples, or asyncpg's
    Records, which index and unpack like tuples: copying them into tuples costs more than the check)."""
    sql = _query(db.dialect, until is not None)
    async with db.engine.connect() as conn:
        driver: Any = (await conn.get_raw_connection()).driver_connection

        async def fetch(last: int) -> list[RawRow]:
            if db.dialect == "postgresql":
                args = (last, chunk) if until is None else (last, chunk, until)
                rows: list[RawRow] = await driver.fetch(sql, *args)  # asyncpg Records index like tuples
                return rows
            # SQLite's "?" parameters bind in the order they appear
            return list(await driver.execute_fetchall(sql, (last, chunk) if until is None else (last, until, chunk)))

        pending = asyncio.ensure_future(fetch(after))
        while True:
            rows = await pending
            if not rows:
                return
            if len(rows) == chunk:
                pending = asyncio.ensure_future(fetch(rows[-1][0]))
            else:
                pending = asyncio.ensure_future(_empty())
            yield rows


async def last_rows(db: Database, after: int, upto: int, n: int = 2) -> list[RawRow]:
    """The last ``n`` rows with ``after < seq <= upto``, oldest first, as driver tuples (the rows a part of
    a parallel verification resumes after: :meth:`ChainWalker.resume_after`)."""
    p = ("$1", "$2", "$3") if db.dialect == "postgresql" else ("?", "?", "?")
    sql = (f"SELECT {COLUMNS} FROM audit_events WHERE seq > {p[0]} AND seq <= {p[1]} "  # noqa: S608
           f"ORDER BY seq DESC LIMIT {p[2]}")
    async with db.engine.connect() as conn:
        driver: Any = (await conn.get_raw_connection()).driver_connection
        if db.dialect == "postgresql":
            rows: list[RawRow] = await driver.fetch(sql, after, upto, n)
        else:
            rows = list(await driver.execute_fetchall(sql, (after, upto, n)))
    return rows[::-1]


async def _empty() -> list[RawRow]:
    return []


def decoded(row: RawRow, names: Mapping[int, str]) -> dict[str, Any]:
    """A stored row as the export/archive JSON object (the canonical fields plus ``hash``); ``names``
    maps dictionary codes to names (:meth:`NameDictionary.load_all`)."""
    seq, id_, at, type_, tenant, actor, subject, ip, request_id, data, digest, shape = row

    def text(value: Any) -> str | None:
        return None if value is None else unpack_text(bytes(value))

    return {"seq": seq, "id": text(id_), "at": from_micros(int(at)).isoformat(timespec="microseconds"),
            "type": names[type_], "tenant_id": None if tenant is None else names[tenant],
            "actor": None if actor is None else names[actor], "subject": text(subject), "ip": text(ip),
            "request_id": text(request_id), "data": orjson.loads(data_json(data, shape, names)) if data else {},
            "hash": bytes(digest).hex()}


def present_ids(conn: Connection | Session, events: list[tuple[str, int | None, datetime]]) -> set[str]:
    """Which of these (id, tenant code, time) events are in the table already. ``id`` has no index (it
    would cost ~40 bytes per event): the lookup goes by ``ix_audit_events_tenant_at_seq``, one range
    scan per tenant over the events' time span (seconds, for a batch or a crashed process's spool)."""
    spans: dict[int | None, tuple[datetime, datetime]] = {}
    for _id, tenant, at in events:
        low, high = spans.get(tenant, (at, at))
        spans[tenant] = (min(low, at), max(high, at))
    found: set[str] = set()
    for tenant, (low, high) in spans.items():
        same_tenant = AuditEvent.tenant_code.is_(None) if tenant is None else AuditEvent.tenant_code == tenant
        found.update(conn.execute(select(AuditEvent.id).where(
            same_tenant, AuditEvent.at >= low, AuditEvent.at <= high)).scalars())
    return found & {event_id for event_id, _t, _a in events}


async def bounds(db: Database) -> tuple[int, int] | None:
    """(first seq, last seq) in the database, or None when the table is empty."""
    async with db.sessions() as session:
        row = (await session.execute(select(func.min(AuditEvent.seq), func.max(AuditEvent.seq)))).first()
    if row is None or row[0] is None:
        return None
    return int(row[0]), int(row[1])


async def hash_at(db: Database, seq: int) -> str | None:
    async with db.sessions() as session:
        value = (await session.execute(select(AuditEvent.hash).where(AuditEvent.seq == seq))).scalar()
    return None if value is None else str(value)


async def head(db: Database) -> tuple[int, str] | None:
    """(seq, hash) of the newest event."""
    async with db.sessions() as session:
        row = (await session.execute(
            select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1))).first()
    return (int(row[0]), str(row[1])) if row else None
