"""What ``tokensmith audit verify`` reports besides the chain: events that were recorded but are not in
the table (from the crash spool and the dead-letter file), and events stored in sanitised form.

* *crashed*: spooled by a process that is gone; the next ``tokensmith serve`` writes them.
* *overdue*: spooled by a live process more than ``writer_stall_after`` seconds ago and still not
  written (its writer is stalled).
* *dead letter*: refused by the database in every form; never given a ``seq``.
* *in flight*: spooled moments ago by a live process (normal; not a finding).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, text

from tokensmith.audit.sanitise import MARKER
from tokensmith.audit.spool import spooled
from tokensmith.clock import iso_z
from tokensmith.storage.models import AuditEvent

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

_CHUNK = 500


async def _present(rt: Runtime, ids: list[str]) -> set[str]:
    found: set[str] = set()
    async with rt.db.sessions() as session:
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start:start + _CHUNK]
            found.update((await session.execute(select(AuditEvent.id).where(AuditEvent.id.in_(chunk)))).scalars())
    return found


def _brief(record: dict[str, Any]) -> dict[str, Any]:
    ts = record.get("ts")
    return {"id": record.get("id"), "type": str(record.get("type"))[:60],
            "at": iso_z(float(ts)) if isinstance(ts, int | float) else None}


async def unwritten_report(rt: Runtime) -> dict[str, Any]:
    directory = rt.settings.audit_spool_path()
    events, dead = spooled(directory) if directory is not None else ([], [])
    present = await _present(rt, [record["id"] for record, _ in events])
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
    async with rt.db.sessions() as session:
        sanitised = (await session.execute(
            # ``data`` is stored as canonical JSON text (no whitespace): a text match finds the marker key
            select(func.count()).select_from(AuditEvent).where(text("data LIKE :marker"))
            .params(marker=f'%"{MARKER}":%')
        )).scalar_one()
    missing = crashed + overdue + dead
    return {"crashed": len(crashed), "overdue": len(overdue), "dead_letter": len(dead), "in_flight": in_flight,
            "sanitised": int(sanitised), "missing": len(missing), "examples": [_brief(r) for r in missing[:10]]}
