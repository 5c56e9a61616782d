"""The audit listing (``GET /audit-events``, the console): keyset pages, newest first, one tenant.

Each page is one index range scan, so it costs the same on page 1 and page 10,000 and at ten million
rows: by ``seq`` (the tenant's index; with an actor or subject filter the index of that column, with a
type filter the partial type index -- or, for the two high-volume types, which make up most rows, the
tenant's index), or -- with a time range -- by ``(at, seq)`` (``ix_audit_events_tenant_at_seq``), since
``seq`` order and time order differ slightly (events recorded during an outage are written late). The
cursor names the last row of the page; it is opaque to clients.

On PostgreSQL (revision 0008) the tenant, actor and time indexes are bucketed -- ``(tenant_code, seq >>
8)`` etc., deduplicated into one entry per bucket -- so the page orders by ``(bucket, seq)``: the index
gives the buckets in order and an incremental sort orders the few hundred rows of a bucket. The subject
index is the bigint ``hash(subject) << 43 | seq``: a page is a range of it, the subject rechecked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import BigInteger, ColumnClause, LargeBinary, Select, and_, bindparam, literal_column, or_, select, text

from tokensmith.audit.names import BULK_MAX, rare_type_predicate
from tokensmith.clock import iso_z
from tokensmith.errors import InvalidRequest
from tokensmith.storage.compact import from_micros, pack_text, to_micros
from tokensmith.storage.models import SUBJECT_KEY_SQL, AuditEvent
from tokensmith.storage.shapes import data_json

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

MAX_PAGE = 500
_SUBJECT_BASE = text("SELECT ((hashtext(encode(:s, 'hex')) & 1048575)::bigint << 43)").bindparams(
    bindparam("s", type_=LargeBinary))


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
            "subject": row.subject, "ip": row.ip, "requestId": row.request_id,
            "data": orjson.loads(data_json(row.packed_data, row.shape_code, names))}


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


def _ordered(query: Select[*tuple[Any, ...]], dialect: str, filters: Filters, codes: dict[str, int],
             after: tuple[int, ...] | None, subject_base: int | None) -> Select[*tuple[Any, ...]]:
    """The page's order and cursor condition, spelt so that the database walks one index (see the module
    docstring; on PostgreSQL the bucket expressions must match the indexes' own)."""
    e = AuditEvent
    postgres = dialect == "postgresql"
    if filters.timed:
        if after:
            at = from_micros(after[0])  # (at, seq) < cursor, spelt so that ``at`` binds with its column type
            query = query.where(or_(e.at < at, and_(e.at == at, e.seq < after[1])))
        if not postgres:
            return query.order_by(e.at.desc(), e.seq.desc())
        bucket: ColumnClause[int] = literal_column("(audit_events.at >> 16)", BigInteger())
        if filters.since is not None:
            query = query.where(bucket >= to_micros(filters.since) >> 16)
        if after or filters.until is not None:
            high = min(after[0] if after else 2**62, to_micros(filters.until) if filters.until else 2**62)
            query = query.where(bucket <= high >> 16)
        return query.order_by(bucket.desc(), e.at.desc(), e.seq.desc())
    if after:
        query = query.where(e.seq < after[0])
    if not postgres or ("type" in codes and codes["type"] > BULK_MAX and filters.subject is None):
        return query.order_by(e.seq.desc())
    if filters.subject is not None:
        key: ColumnClause[int] = literal_column(SUBJECT_KEY_SQL.replace("subject", "audit_events.subject")
                                                .replace("seq)", "audit_events.seq)"), BigInteger())
        assert subject_base is not None
        query = query.where(key >= subject_base, key < (subject_base | after[0] if after else subject_base + 2**43))
        return query.order_by(key.desc())
    bucket = literal_column("(audit_events.seq >> 8)", BigInteger())
    if after:
        query = query.where(bucket <= after[0] >> 8)
    return query.order_by(bucket.desc(), e.seq.desc())


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
    query = select(e.seq, e.id, e.at, e.type_code, e.actor_code, e.subject, e.ip, e.request_id, e.packed_data,
                   e.shape_code).where(e.tenant_code == codes["tenant"])
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
    subject_base = None
    if filters.subject is not None and rt.db.dialect == "postgresql" and not filters.timed:
        async with rt.db.sessions() as session:  # the subject index's key range, as the database hashes
            subject_base = int((await session.execute(_SUBJECT_BASE, {"s": pack_text(filters.subject)})).scalar_one())
    query = _ordered(query, rt.db.dialect, filters, codes, after, subject_base)
    async with rt.db.sessions() as session:
        rows = (await session.execute(query.limit(limit + 1))).all()
    more = len(rows) > limit
    rows = rows[:limit]
    names = await rt.audit.names.names(c for r in rows for c in (r.type_code, r.actor_code, r.shape_code))
    return {"events": [_view(r, names) for r in rows], "next": _cursor(filters, rows[-1]) if more else None}
