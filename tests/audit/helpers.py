"""A runtime with signing keys and a clock the test moves, and ways to tamper with archives."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import func, select

from tests.support import make_settings
from tokensmith.audit.archive import verify_archives
from tokensmith.audit.verification import verify_database
from tokensmith.bootstrap import initialise
from tokensmith.clock import ManualClock
from tokensmith.runtime import Runtime
from tokensmith.storage.compact import to_micros, utc_micros
from tokensmith.storage.models import AuditEvent

__all__ = ["record", "rewrite_archive", "started", "to_micros", "utc_micros"]


async def started(url: str, clock: ManualClock | None = None, **settings: Any) -> Runtime:
    rt = Runtime(make_settings(url, **settings), clock=clock or ManualClock(1_800_000_000.0))
    await initialise(rt)
    await rt.reload_keys()
    await rt.audit.flush()
    return rt


async def record(rt: Runtime, n: int, prefix: str = "e") -> None:
    for i in range(n):
        rt.audit.record("exchange.issued", tenant_id="3f0e2a1b-0000-4000-8000-000000000001",
                        actor="apikey:0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", subject=f"{prefix}{i}",
                        ip="10.0.0.1", request_id="ab" * 16, jti=f"jti-{prefix}{i}")
    await rt.audit.flush()


def rewrite_archive(path: Path, change: Callable[[list[dict[str, Any]]], None]) -> None:
    with gzip.open(path, "rb") as fh:
        lines = [orjson.loads(line) for line in fh]
    change(lines)
    with gzip.open(path, "wb") as fh:
        fh.write(b"".join(orjson.dumps(line) + b"\n" for line in lines))


async def assert_nothing_lost_or_doubled(rt: Runtime, archive_path: Path, archived_through: int, written: int) -> None:
    """After an archive + prune that ran beside writers: the database chain and the archive both verify, every
    event is in exactly one of them, and every event the writers wrote (subjects ``new…``) is still stored."""
    db = await verify_database(rt)
    assert db.ok, db.problems[:3]
    count, problems, _ = await verify_archives(rt, [archive_path])
    assert problems == []
    async with rt.db.sessions() as session:
        subjects = list((await session.execute(select(AuditEvent.subject))).scalars())
        total = (await session.execute(select(func.max(AuditEvent.seq)))).scalar()
    assert count == archived_through and len(subjects) + count == total
    assert len([s for s in subjects if s and s.startswith("new")]) == written
