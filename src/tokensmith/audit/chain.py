"""The hash chain: ``hash_n = HMAC-SHA256(audit_key, hash_{n-1} || canonical(event_n))``.

Keyed with a key derived from the master key, so somebody who can write the database but does not hold
the master key cannot rebuild a valid chain after changing, inserting or deleting a row. ``seq`` is
gap-free from 1; a deleted row shows as a gap or a broken link, an inserted one as a broken link.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

GENESIS = "0" * 64


_CANONICAL = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def canonical(event: dict[str, Any]) -> bytes:
    """Sorted keys, no whitespace, UTF-8 (orjson: ~5x cheaper than json.dumps on the write path)."""
    return orjson.dumps(event, option=_CANONICAL, default=str)


def event_fields(seq: int, event_id: str, at: datetime, type_: str, tenant_id: str | None, actor: str | None,
                 subject: str | None, ip: str | None, request_id: str | None,
                 data: dict[str, Any]) -> dict[str, Any]:
    return {
        "seq": seq,
        "id": event_id,
        "at": at.isoformat(timespec="microseconds"),
        "type": type_,
        "tenant_id": tenant_id,
        "actor": actor,
        "subject": subject,
        "ip": ip,
        "request_id": request_id,
        "data": data,
    }


def link(key: bytes, prev_hash: str, fields: dict[str, Any]) -> str:
    return hmac.new(key, prev_hash.encode() + b"\n" + canonical(fields), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    problem: str


async def verify_chain(rows: AsyncIterator[Any], key: bytes) -> tuple[int, list[ChainProblem]]:
    """Walk the rows in ``seq`` order; return (rows checked, problems found)."""
    problems: list[ChainProblem] = []
    expected_seq = 1
    prev_hash = GENESIS
    count = 0
    async for row in rows:
        count += 1
        if row.seq != expected_seq:
            problems.append(ChainProblem(row.seq, f"sequence gap: expected {expected_seq} (rows deleted?)"))
        if not hmac.compare_digest(row.prev_hash, prev_hash):
            problems.append(ChainProblem(row.seq, "broken link to the previous row (deleted or inserted)"))
        if getattr(row, "unreadable", False):
            problems.append(ChainProblem(row.seq, "row unreadable (changed)"))
            prev_hash = row.hash
            expected_seq = row.seq + 1
            continue
        fields = event_fields(row.seq, row.id, row.at, row.type, row.tenant_id, row.actor, row.subject, row.ip,
                              row.request_id, row.data)
        if not hmac.compare_digest(link(key, row.prev_hash, fields), row.hash):
            problems.append(ChainProblem(row.seq, "hash mismatch (row changed)"))
        prev_hash = row.hash
        expected_seq = row.seq + 1
    return count, problems
