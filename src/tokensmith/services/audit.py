"""Reading the audit log: chain verification and export."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from tokensmith.audit import ChainProblem, verify_chain
from tokensmith.audit.chain import event_fields
from tokensmith.storage.db import is_outage
from tokensmith.storage.models import AuditEvent

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime


async def _rows(rt: Runtime, since_seq: int = 0, event_type: str | None = None) -> AsyncIterator[AuditEvent]:
    async with rt.db.sessions() as session:
        query = select(AuditEvent).where(AuditEvent.seq > since_seq).order_by(AuditEvent.seq)
        if event_type:
            query = query.where(AuditEvent.type == event_type)
        result = await session.stream(query.execution_options(yield_per=1000))
        async for row in result.scalars():
            yield row


@dataclass(frozen=True)
class UnreadableRow:
    """A row whose columns no longer parse (a JSON or timestamp column overwritten with garbage)."""

    seq: int
    prev_hash: str
    hash: str
    unreadable: bool = True


async def _readable_rows(rt: Runtime, since_seq: int = 0, event_type: str | None = None) -> AsyncIterator[Any]:
    """Every row in order; a row that cannot be read is yielded as :class:`UnreadableRow` (a finding of
    the verification, not a crash of it)."""
    last = since_seq

    def after(query: Any) -> Any:
        query = query.where(AuditEvent.seq > last).order_by(AuditEvent.seq).limit(1)
        return query.where(AuditEvent.type == event_type) if event_type else query

    while True:
        try:
            async for row in _rows(rt, last, event_type):
                last = row.seq
                yield row
            return
        except Exception as exc:
            if is_outage(exc):
                raise
        # Rows are fetched in chunks: find the bad one row by row, then stream on after it.
        while True:
            try:
                async with rt.db.sessions() as session:
                    found = (await session.execute(after(select(AuditEvent)))).scalar()
            except Exception as exc:
                if is_outage(exc):
                    raise
                async with rt.db.sessions() as session:
                    raw = (await session.execute(
                        after(select(AuditEvent.seq, AuditEvent.prev_hash, AuditEvent.hash)))).one()
                last = int(raw[0])
                yield UnreadableRow(last, str(raw[1]), str(raw[2]))
                break
            if found is None:  # pragma: no cover - the failing row vanished meanwhile
                return
            last = found.seq
            yield found


async def verify(rt: Runtime) -> tuple[int, list[ChainProblem]]:
    return await verify_chain(_readable_rows(rt), rt.master.audit_key)


async def head(rt: Runtime) -> tuple[int, str] | None:
    """(seq, hash) of the newest event. A chain cannot show that rows were cut off its end: keep the head
    somewhere else (a ticket, another system) and compare it with a later verification."""
    async with rt.db.sessions() as session:
        row = (await session.execute(
            select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1))).first()
    return (int(row[0]), str(row[1])) if row else None


async def export(rt: Runtime, since_seq: int = 0, event_type: str | None = None) -> list[str]:
    lines = []
    async for row in _readable_rows(rt, since_seq, event_type):
        if isinstance(row, UnreadableRow):
            lines.append(json.dumps({"seq": row.seq, "unreadable": True, "prev_hash": row.prev_hash,
                                     "hash": row.hash}))
            continue
        fields = event_fields(row.seq, row.id, row.at, row.type, row.tenant_id, row.actor, row.subject, row.ip,
                              row.request_id, row.data)
        fields.update(prev_hash=row.prev_hash, hash=row.hash)
        lines.append(json.dumps(fields, default=str))
    return lines
