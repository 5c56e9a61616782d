"""Reading the audit log: chain verification and export (the work is in :mod:`tokensmith.audit`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import orjson

from tokensmith.audit.chain import ChainProblem
from tokensmith.audit.store import decoded, raw_chunks
from tokensmith.audit.store import head as _head
from tokensmith.audit.verification import verify_database

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime


async def verify(rt: Runtime) -> tuple[int, list[ChainProblem]]:
    result = await verify_database(rt)
    return result.events, result.problems


async def head(rt: Runtime) -> tuple[int, str] | None:
    """(seq, hash) of the newest event. A chain cannot show that rows were cut off its end: keep the head
    somewhere else (a ticket, another system), or rely on the signed checkpoints."""
    return await _head(rt.db)


async def export_lines(rt: Runtime, since_seq: int = 0, event_type: str | None = None) -> AsyncIterator[bytes]:
    """Events as JSON lines, oldest first, streamed in chunks (constant memory at any size). Each line
    carries its ``hash`` and ``prev_hash`` (the hash of the row before it)."""
    prev: str | None = None
    names = await rt.audit.names.load_all()
    async for rows in raw_chunks(rt.db, after=since_seq):
        if any(r[3] not in names or any(c is not None and c not in names for c in (r[4], r[5], r[11])) for r in rows):
            names = await rt.audit.names.load_all()  # written since the start of the export
        for row in rows:
            try:
                event = decoded(row, names)
            except Exception:
                event = {"seq": row[0], "unreadable": True, "hash": bytes(row[10]).hex()}
            event["prev_hash"], prev = prev, str(event["hash"])
            if event_type is None or event.get("type") == event_type:
                yield orjson.dumps(event)


async def export(rt: Runtime, since_seq: int = 0, event_type: str | None = None) -> list[str]:
    return [line.decode() async for line in export_lines(rt, since_seq, event_type)]
