"""The audit listing (``GET /audit-events``, the console): keyset pages, newest first, one tenant.

Each page is one index range scan, so it costs the same on page 1 and page 10,000 and at ten million
rows: by ``seq`` (``ix_audit_events_tenant_seq``; with an actor or subject filter the index of that
column, with a type filter the partial type index -- or, for the two high-volume types, which make up
most rows, the tenant's index), or -- with a time range -- by ``(at, seq)``
(``ix_audit_events_tenant_at_seq``), since ``seq`` order and time order differ slightly (events
recorded during an outage are written late). The cursor names the last row of the page; it is opaque
to clients.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, or_, select

from tokensmith.audit.names import BULK_MAX, rare_type_predicate
from tokensmith.clock import iso_z
from tokensmith.errors import InvalidRequest
from tokensmith.storage.compact import from_micros, to_micros
from tokensmith.storage.models import AuditEvent

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

MAX_PAGE = 500


@dataclass(frozen=True)
class Filters:
    type: str | None = None
    actor: str | None = None
    subject: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    @property
    def timed(self) -> bool:
        return self.since is not None or self.until is not None


def _cursor(filters: Filters, row: Any) -> str:
    return f"{to_micros(row.at)}.{row.seq}" if filters.timed else str(row.seq)


def _parse_cursor(filters: Filters, cursor: str) -> tuple[int, ...]:
    try:
        parts = tuple(int(p) for p in cursor.split("."))
    except ValueError:
        parts = ()
    if len(parts) != (2 if filters.timed else 1) or min(parts) < 0:
        raise InvalidRequest("invalid cursor: pass the `next` value of the previous page with the same filters")
    return parts


def _view(row: Any, names: dict[int, str]) -> dict[str, Any]:
    return {"seq": row.seq, "id": row.id, "at": iso_z(row.at), "atMicros": to_micros(row.at),
            "type": names[row.type_code], "actor": None if row.actor_code is None else names[row.actor_code],
            "subject": row.subject, "ip": row.ip, "requestId": row.request_id, "data": row.data}


async def _codes(rt: Runtime, tenant_id: str, filters: Filters) -> dict[str, int] | None:
    """Dictionary codes of the tenant and the filtered names; None when one was never written (then no
    event can match)."""
    wanted = {"tenant": tenant_id, "type": filters.type, "actor": filters.actor}
    codes = {}
    for key, name in wanted.items():
        if name is None:
            continue
        code = await rt.audit.names.code_of(name)
        if code is None:
            return None
        codes[key] = code
    return codes


async def list_events(rt: Runtime, tenant_id: str, filters: Filters, *, cursor: str | None = None,
                      limit: int = 100) -> dict[str, Any]:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}")
    if filters.since and filters.until and filters.since >= filters.until:
        raise InvalidRequest("since must be before until")
    after = _parse_cursor(filters, cursor) if cursor else None
    codes = await _codes(rt, tenant_id, filters)
    if codes is None:
        return {"events": [], "next": None}
    e = AuditEvent
    query = select(e.seq, e.id, e.at, e.type_code, e.actor_code, e.subject, e.ip, e.request_id, e.data).where(
        e.tenant_code == codes["tenant"])
    if "type" in codes:
        query = query.where(e.type_code == codes["type"])
        if codes["type"] > BULK_MAX:  # by the partial index; a high-volume type is most rows anyway
            query = query.where(rare_type_predicate())
    if "actor" in codes:
        query = query.where(e.actor_code == codes["actor"])
    if filters.subject is not None:
        query = query.where(e.subject == filters.subject)
    if filters.since is not None:
        query = query.where(e.at >= filters.since)
    if filters.until is not None:
        query = query.where(e.at < filters.until)
    if filters.timed:
        if after:
            at = from_micros(after[0])  # (at, seq) < cursor, spelt so that ``at`` binds with its column type
            query = query.where(or_(e.at < at, and_(e.at == at, e.seq < after[1])))
        query = query.order_by(e.at.desc(), e.seq.desc())
    else:
        if after:
            query = query.where(e.seq < after[0])
        query = query.order_by(e.seq.desc())
    async with rt.db.sessions() as session:
        rows = (await session.execute(query.limit(limit + 1))).all()
    more = len(rows) > limit
    rows = rows[:limit]
    names = await rt.audit.names.names(c for r in rows for c in (r.type_code, r.actor_code))
    return {"events": [_view(r, names) for r in rows], "next": _cursor(filters, rows[-1]) if more else None}
