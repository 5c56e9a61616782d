"""Batched, chained audit writes.

Requests only append to an in-memory queue; a background task writes batches. Each batch is one
transaction that first takes the chain lock (PostgreSQL: a transaction-scoped advisory lock; SQLite:
the database write lock, taken by the first write of the transaction), reads the chain tail and appends
with consecutive ``seq``. Concurrent writers from other workers or instances therefore serialise; the
``seq`` primary key is the backstop, and a batch that loses a race is retried. Events survive a database
outage in memory (bounded) and are written when it comes back; a batch whose outcome is unknown (the
connection died around COMMIT) is written again without the events that did make it, so nothing is
written twice and the queue never wedges.

Each event is also appended to the crash spool (:mod:`tokensmith.audit.spool`) as it is recorded, and
replayed from there after a crash. An event the database refuses (a NUL in a text, a value too long)
does not block the others: the batch is bisected down to it (:mod:`tokensmith.storage.setaside`) and
it is written in a sanitised, marked form in its place (:mod:`tokensmith.audit.sanitise`).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from tokensmith.audit.chain import GENESIS
from tokensmith.audit.mac import prekeyed_sha256
from tokensmith.audit.names import NameDictionary
from tokensmith.audit.sanitise import minimal, sanitised
from tokensmith.audit.spool import AuditSpool
from tokensmith.audit.store import present_ids
from tokensmith.audit.stored_form import body, message, packed_name
from tokensmith.clock import Clock
from tokensmith.ids import new_row_id
from tokensmith.storage.compact import canonical_data, pack_ip, pack_text, to_micros
from tokensmith.storage.db import Database, is_data_error
from tokensmith.storage.flusher import PeriodicFlusher
from tokensmith.storage.models import AuditEvent
from tokensmith.storage.setaside import data_error_reason, write_setting_aside
from tokensmith.storage.shapes import split

log = logging.getLogger("tokensmith.audit")
_ADVISORY_LOCK_ID = 0x746F6B656E  # "token"
MAX_PENDING = 200_000


# The batch insert at the driver: parameters as tuples in this column order, no SQLAlchemy statement
# (its per-row parameter processing cost a third of the INSERT itself, in the SQLite write turn); _write
# packs each value with the very functions the TypeDecorators of AuditEvent call, so the stored bytes are
# the ORM's.
_COLUMNS = ("seq", "id", "at", "type_code", "tenant_code", "actor_code", "subject", "ip", "request_id",
            "shape_code", "data", "hash")


@lru_cache(maxsize=4)
def _insert_sql(paramstyle: str) -> str:
    marks = ["?"] * len(_COLUMNS) if paramstyle == "qmark" else [f"${i}" for i in range(1, len(_COLUMNS) + 1)]
    return f"INSERT INTO audit_events ({', '.join(_COLUMNS)}) VALUES ({', '.join(marks)})"  # noqa: S608


def _packed(event: PendingEvent) -> tuple[str | None, bytes]:
    """(shape name, stored bytes) of an event's ``data`` (:mod:`tokensmith.storage.shapes`)."""
    data_json = canonical_data(event.data)
    found = _split_short(data_json) if len(data_json) <= _SHORT else split(data_json)
    return (None, data_json) if found is None else found


# ``split`` is a pure function of the bytes, and the hot events repeat them exactly: every token a client
# gets by client_credentials has the same ``{"format":…,"grant":…,"scope":…}``. Short ones only, so
# that the cache stays a few hundred kilobytes whatever the events hold.
_SHORT = 256
_split_short = lru_cache(maxsize=2048)(split)


def _prepared(event: PendingEvent, shape: str | None, data: bytes,
              codes: dict[str, int]) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """(the row's columns between ``seq`` and ``hash``, its chain-format-2 fields after ``seq``): ``seq``
    and ``hash`` are known only once the tail is read under the write lock."""
    id_, at = pack_text(event.id), to_micros(event.at)
    subject = None if event.subject is None else pack_text(event.subject)
    ip = None if event.ip is None else pack_ip(event.ip)
    request_id = None if event.request_id is None else pack_text(event.request_id)
    columns = (id_, at, codes[event.type], None if event.tenant_id is None else codes[event.tenant_id],
               None if event.actor is None else codes[event.actor], subject, ip, request_id,
               None if shape is None else codes[shape], data)
    hashed = (at, id_, packed_name(event.type), None if event.tenant_id is None else packed_name(event.tenant_id),
              None if event.actor is None else packed_name(event.actor), subject, ip, request_id,
              None if shape is None else packed_name(shape), data)
    return columns, hashed


@dataclass(slots=True)
class PendingEvent:
    type: str
    ts: float  # the clock's reading; turned into a datetime only when the batch is written
    tenant_id: str | None = None
    actor: str | None = None
    subject: str | None = None
    ip: str | None = None
    request_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=new_row_id)
    segment: int = -1  # the spool segment holding it (-1: not spooled)
    replayed: bool = False  # from a dead process's spool: may already be in the table

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.ts, UTC)


class AuditLog(PeriodicFlusher):
    flusher_name = "audit-flusher"
    flusher_log = log

    def __init__(self, db: Database, key: bytes, clock: Clock, *, flush_interval: float = 0.2,
                 batch_size: int = 500, spool: AuditSpool | None = None, stall_after: float = 60.0,
                 metrics: Any = None) -> None:
        self.init_health(clock, stall_after, metrics)
        self.spool = spool
        self._db = db
        self._mac = prekeyed_sha256(key)
        self.names = NameDictionary(db)
        self._clock = clock
        self._flush_interval = flush_interval
        self._batch_size = batch_size
        self._pending: deque[PendingEvent] = deque()
        self._lock = asyncio.Lock()
        self.dropped = 0
        self._uncertain = False

    def record(self, type_: str, *, tenant_id: str | None = None, actor: str | None = None,
               subject: str | None = None, ip: str | None = None, request_id: str | None = None,
               **data: Any) -> None:
        """Queue one event. Never blocks and never raises; ``data`` must hold no secret."""
        if len(self._pending) >= MAX_PENDING:
            self._pending.popleft()  # its spool segment is kept: replayed at the next start
            self.dropped += 1
            log.error("audit queue full; oldest event dropped from memory")
        # Clipped to their columns here, so that no caller's long value (an e-mail address of 320
        # characters) can make a batch unwritable; a slice of a short string is the string itself.
        event = PendingEvent(type=type_, ts=self._clock.now(), tenant_id=tenant_id, actor=actor and actor[:200],
                             subject=subject and subject[:200], ip=ip and ip[:64],
                             request_id=request_id and request_id[:64], data=data)
        if self.spool is not None:
            event.segment = self.spool.append(event)  # before the response leaves
        self._pending.append(event)

    def replay_spool(self) -> int:
        """Queue, ahead of everything, the events a crashed process spooled but never wrote."""
        if self.spool is None:
            return 0
        records = self.spool.adopt()
        for record in reversed(records):
            self._pending.appendleft(PendingEvent(
                type=record["type"], ts=float(record["ts"]), tenant_id=record.get("tenant_id"),
                actor=record.get("actor"), subject=record.get("subject"), ip=record.get("ip"),
                request_id=record.get("request_id"), data=record.get("data") or {}, id=record["id"],
                segment=record["segment"], replayed=True))
        if records:
            log.warning("audit spool: %d events of a stopped process queued again", len(records))
        return len(records)

    @property
    def has_pending(self) -> bool:
        return bool(self._pending)

    async def stop(self) -> None:
        await super().stop()
        if self.spool is not None:
            self.spool.close()  # what could not be written stays spooled for the next start

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def flush_interval(self) -> float:
        return self._flush_interval

    async def flush(self) -> int:
        """Write everything queued when the flush began; returns the number of events written. Events
        recorded meanwhile wait for the next round: writing them at once would keep a busy server's writer
        in a loop of small batches, holding the database's write turn (SQLite) or the chain's lock
        (PostgreSQL) almost all the time, instead of one batch per ``audit_flush_interval``."""
        written = 0
        async with self._lock:
            if self.spool is not None and self._pending:
                self.spool.rotate()  # events recorded from now on go to a new segment
            remaining = len(self._pending)
            while remaining > 0 and self._pending:
                batch = [self._pending[i] for i in range(min(self._batch_size, remaining, len(self._pending)))]
                remaining -= len(batch)
                try:
                    written += await write_setting_aside(batch, self._write_with_retry, self._set_aside)
                except BaseException:
                    # The batch may or may not be in (a connection lost after COMMIT was sent): the next
                    # attempt skips the events that are already there instead of writing them twice.
                    self._uncertain = True
                    raise
                self._uncertain = False
                for _ in batch:
                    event = self._pending.popleft()
                    if self.spool is not None and event.segment != -1:
                        self.spool.written(event.segment)
        return written

    async def _set_aside(self, event: PendingEvent, exc: BaseException) -> int:
        """The one event of a batch the database refuses: its sanitised copy takes its place in the chain
        (then a minimal copy; if even that is refused, the dead-letter file, without a seq)."""
        reason = data_error_reason(exc)
        self.health.dead_letter(f"audit event {event.type[:60]!r}", reason)
        for stand_in in (sanitised(event, reason), minimal(event, reason)):
            try:
                return await self._write_with_retry([stand_in])
            except Exception as again:
                if not is_data_error(again):
                    raise
        if self.spool is not None:
            self.spool.dead_letter(event)
        log.error("audit event %r could not be written in any form; kept in the dead-letter file", event.type[:60])
        return 0

    async def _write_with_retry(self, batch: list[PendingEvent]) -> int:
        dedupe = self._uncertain or any(e.replayed for e in batch)
        for attempt in range(50):
            try:
                return await self._write(batch, dedupe=dedupe)
            except IntegrityError:
                # another writer took the same seq first (or an event id is already in): re-read the tail
                # and try again
                dedupe = True
            except OperationalError as exc:
                if "locked" not in str(exc).lower() and "busy" not in str(exc).lower():
                    raise
            await asyncio.sleep(random.uniform(0.001, 0.01) * (attempt + 1))
        raise RuntimeError("audit chain: could not append after 50 attempts")

    async def _write(self, batch: list[PendingEvent], *, dedupe: bool = False) -> int:
        # dictionary codes first, in their own transaction: a code never changes, so one assigned for a
        # batch that then fails is simply used by the next attempt
        packed = [_packed(e) for e in batch]
        codes = await self.names.codes([name for e in batch for name in (e.type, e.tenant_id, e.actor)]
                                       + [shape for shape, _data in packed if shape is not None])
        # Everything but seq and hash is prepared before the write turn is taken: the turn is shared with
        # every other write of the database (an opaque token's insert waits for it), so it is held only
        # for the tail read, the chain links and the INSERT.
        prepared = [_prepared(e, shape, data, codes) for e, (shape, data) in zip(batch, packed, strict=True)]
        keys = [(e.id, None if e.tenant_id is None else codes[e.tenant_id], e.at) for e in batch]
        postgres = self._db.dialect == "postgresql"

        def append(conn: Connection) -> int:
            if postgres:
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK_ID})
            # (SQLite: the transaction began IMMEDIATE, so the write lock is held before the tail is read)
            todo = prepared
            if dedupe:
                present = present_ids(conn, keys)
                todo = [p for (event_id, _t, _a), p in zip(keys, prepared, strict=True) if event_id not in present]
                if not todo:
                    return 0
            tail = conn.execute(select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc())
                                .limit(1)).first()
            seq, prev = (tail[0], bytes.fromhex(tail[1])) if tail else (0, bytes.fromhex(GENESIS))
            rows, mac = [], self._mac
            for columns, hashed in todo:
                seq += 1
                prev = mac(message(prev, body(seq, *hashed)))  # chain format 2
                rows.append((seq, *columns, prev))
            conn.exec_driver_sql(_insert_sql(conn.dialect.paramstyle), rows)
            return len(rows)

        # on a SQLite file the whole transaction runs at once on the write lane (storage/lane.py)
        return await self._db.write_at_once(append)
