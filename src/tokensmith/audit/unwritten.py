"""What ``tokensmith audit verify`` reports besides the chain: events that were recorded but are not in
the table (from the crash spool and the dead-letter file), and events stored in sanitised form.

* *crashed*: spooled by a process that is gone; the next ``tokensmith serve`` writes them.
* *overdue*: spooled by a live process more than ``writer_stall_after`` seconds ago and still not
  written (its writer is stalled).
* *dead letter*: refused by the database in every form; never given a ``seq``.
* *in flight*: spooled moments ago by a live process (normal; not a finding).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, or_, select, text

from tokensmith.audit.sanitise import MARKER
from tokensmith.audit.spool import spooled
from tokensmith.audit.store import present_ids
from tokensmith.clock import iso_z
from tokensmith.storage.models import AuditEvent
from tokensmith.storage.shapes import SHAPE_PREFIX

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

_CHUNK = 500


async def _present(rt: Runtime, records: list[dict[str, Any]]) -> set[str]:
    """Which spooled records are in the table (by tenant and time: ``id`` has no index)."""
    tenants = [r.get("tenant_id") for r in records]
    found: set[str] = set()
    async with rt.db.sessions() as session:
        for start in range(0, len(records), _CHUNK):
            events = []
            for record, tenant in zip(records[start:start + _CHUNK], tenants[start:start + _CHUNK], strict=True):
                code = None if tenant is None else await rt.audit.names.code_of(str(tenant))
                if tenant is not None and code is None:
                    continue  # a tenant never written: neither is the event
                events.append((str(record["id"]), code, datetime.fromtimestamp(float(record["ts"]), UTC)))
            found |= await session.run_sync(present_ids, events)
    return found


def _brief(record: dict[str, Any]) -> dict[str, Any]:
    ts = record.get("ts")
    return {"id": record.get("id"), "type": str(record.get("type"))[:60],
            "at": iso_z(float(ts)) if isinstance(ts, int | float) else None}


async def unwritten_report(rt: Runtime, after_seq: int = 0) -> dict[str, Any]:
    """``after_seq``: count sanitised events only after it (``verify --since-checkpoint`` passes its
    anchor, so that the count -- a scan of ``data`` -- costs one checkpoint interval, not the table)."""
    directory = rt.settings.audit_spool_path()
    events, dead = spooled(directory) if directory is not None else ([], [])
    present = await _present(rt, [record for record, _ in events])
    now, bound = rt.clock.now(), rt.settings.writer_stall_after
    crashed, overdue, in_flight = [], [], 0
    for record, alive in events:
        if record["id"] in present:
            continue
        if not alive:
            crashed.append(record)
        elif now - float(record.get("ts") or now) > bound:
            overdue.append(record)
        else:
            in_flight += 1
    # a sanitised event's data has the marker key: in its shape's name, or (unshaped) in its JSON
    shapes = [code for code, name in (await rt.audit.names.load_all()).items()
              if name.startswith(SHAPE_PREFIX) and f'["{MARKER}",' in name]
    async with rt.db.sessions() as session:
        sanitised = (await session.execute(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.seq > after_seq, or_(
                AuditEvent.shape_code.in_(shapes),
                and_(AuditEvent.shape_code.is_(None), text("data LIKE :marker")))).params(
                marker=f'%"{MARKER}":%'.encode())
        )).scalar_one()
    missing = crashed + overdue + dead
    return {"crashed": len(crashed), "overdue": len(overdue), "dead_letter": len(dead), "in_flight": in_flight,
            "sanitised": int(sanitised), "missing": len(missing), "examples": [_brief(r) for r in missing[:10]]}
