"""Reading the audit log: chain verification and export."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import select

from tokensmith.audit import ChainProblem, verify_chain
from tokensmith.audit.chain import event_fields
from tokensmith.storage.models import AuditEvent


async def _rows(rt: Any, since_seq: int = 0, event_type: str | None = None) -> AsyncIterator[AuditEvent]:
    async with rt.db.sessions() as session:
        query = select(AuditEvent).where(AuditEvent.seq > since_seq).order_by(AuditEvent.seq)
        if event_type:
            query = query.where(AuditEvent.type == event_type)
        result = await session.stream(query.execution_options(yield_per=1000))
        async for row in result.scalars():
            yield row


async def verify(rt: Any) -> tuple[int, list[ChainProblem]]:
    return await verify_chain(_rows(rt), rt.master.audit_key)


async def head(rt: Any) -> tuple[int, str] | None:
    """(seq, hash) of the newest event. A chain cannot show that rows were cut off its end: keep the head
    somewhere else (a ticket, another system) and compare it with a later verification."""
    async with rt.db.sessions() as session:
        row = (await session.execute(
            select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1))).first()
    return (int(row[0]), str(row[1])) if row else None


async def export(rt: Any, since_seq: int = 0, event_type: str | None = None) -> list[str]:
    lines = []
    async for row in _rows(rt, since_seq, event_type):
        fields = event_fields(row.seq, row.id, row.at, row.type, row.tenant_id, row.actor, row.subject, row.ip,
                              row.request_id, row.data)
        fields.update(prev_hash=row.prev_hash, hash=row.hash)
        lines.append(json.dumps(fields, default=str))
    return lines
