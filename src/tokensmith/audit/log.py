"""Batched, chained audit writes.

Requests only append to an in-memory queue; a background task writes batches. Each batch is one
transaction that first takes the chain lock (PostgreSQL: a transaction-scoped advisory lock; SQLite:
the database write lock, taken by the first write of the transaction), reads the chain tail and appends
with consecutive ``seq``. Concurrent writers from other workers or instances therefore serialise; the
``seq`` primary key is the backstop, and a batch that loses a race is retried. Events survive a database
outage in memory (bounded) and are written when it comes back; a batch whose outcome is unknown (the
connection died around COMMIT) is written again without the events that did make it, so nothing is
written twice and the queue never wedges.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError

from tokensmith.audit.chain import GENESIS, event_fields, link
from tokensmith.clock import Clock
from tokensmith.ids import new_row_id
from tokensmith.storage.db import Database
from tokensmith.storage.flusher import PeriodicFlusher
from tokensmith.storage.models import AuditEvent

log = logging.getLogger("tokensmith.audit")
_ADVISORY_LOCK_ID = 0x746F6B656E  # "token"
MAX_PENDING = 200_000


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

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.ts, UTC)


class AuditLog(PeriodicFlusher):
    flusher_name = "audit-flusher"
    flusher_log = log

    def __init__(self, db: Database, key: bytes, clock: Clock, *, flush_interval: float = 0.2,
                 batch_size: int = 500) -> None:
        self._db = db
        self._key = key
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
            self._pending.popleft()
            self.dropped += 1
            log.error("audit queue full; oldest event dropped")
        # Clipped to their columns here, so that no caller's long value (an e-mail address of 320
        # characters) can make a batch unwritable; a slice of a short string is the string itself.
        self._pending.append(PendingEvent(type=type_, ts=self._clock.now(),
                                          tenant_id=tenant_id, actor=actor and actor[:200],
                                          subject=subject and subject[:200], ip=ip and ip[:64],
                                          request_id=request_id and request_id[:64], data=data))

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def flush_interval(self) -> float:
        return self._flush_interval

    async def flush(self) -> int:
        """Write everything queued; returns the number of events written."""
        written = 0
        async with self._lock:
            while self._pending:
                batch = [self._pending[i] for i in range(min(self._batch_size, len(self._pending)))]
                try:
                    written += await self._write_with_retry(batch)
                except BaseException:
                    # The batch may or may not be in (a connection lost after COMMIT was sent): the next
                    # attempt skips the events that are already there instead of writing them twice.
                    self._uncertain = True
                    raise
                self._uncertain = False
                for _ in batch:
                    self._pending.popleft()
        return written

    async def _write_with_retry(self, batch: list[PendingEvent]) -> int:
        dedupe = self._uncertain
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
        async with self._db.session() as session:
            if self._db.dialect == "postgresql":
                await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK_ID})
            else:
                # Take SQLite's write lock before reading the tail (a no-op update on no row).
                await session.execute(update(AuditEvent).where(AuditEvent.seq == -1).values(type="x"))
            if dedupe:
                present = set((await session.execute(
                    select(AuditEvent.id).where(AuditEvent.id.in_([e.id for e in batch]))
                )).scalars())
                batch = [e for e in batch if e.id not in present]
                if not batch:
                    return 0
            tail = (await session.execute(
                select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
            )).first()
            seq, prev_hash = (tail[0], tail[1]) if tail else (0, GENESIS)
            rows = []
            for event in batch:
                seq += 1
                at = event.at
                fields = event_fields(seq, event.id, at, event.type, event.tenant_id, event.actor,
                                      event.subject, event.ip, event.request_id, event.data)
                digest = link(self._key, prev_hash, fields)
                rows.append({"seq": seq, "id": event.id, "at": at, "type": event.type,
                             "tenant_id": event.tenant_id, "actor": event.actor, "subject": event.subject,
                             "ip": event.ip, "request_id": event.request_id, "data": event.data,
                             "hash": digest})
                prev_hash = digest
            # Core executemany, not ORM objects: a busy token endpoint produces thousands of events/s.
            await session.execute(insert(AuditEvent.__table__), rows)
        return len(rows)
