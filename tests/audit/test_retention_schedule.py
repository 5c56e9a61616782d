"""The audit schedule, driven by an injected clock: checkpoints at the configured interval (none while
nothing new happened), and with a retention period the old events archived to the archive directory
and pruned, leaving a database that verifies from the archived checkpoint on."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from tests.audit.helpers import record, started
from tokensmith.audit.archive import verify_archives
from tokensmith.audit.checkpoints import checkpoint_events
from tokensmith.audit.verification import verify_database
from tokensmith.clock import ManualClock
from tokensmith.storage.models import AuditEvent


async def test_checkpoints_follow_the_interval(database_url: str) -> None:
    clock = ManualClock(1_800_000_000.0)
    rt = await started(database_url, clock, audit_checkpoint_interval=300)
    try:
        await record(rt, 5)
        assert (await rt.audit_schedule.tick())[0] is True
        clock.advance(100)
        await record(rt, 5)
        assert (await rt.audit_schedule.tick())[0] is False  # the last one is recent
        clock.advance(300)
        assert (await rt.audit_schedule.tick())[0] is True
        clock.advance(300)
        assert (await rt.audit_schedule.tick())[0] is False  # nothing new since
        assert len(await checkpoint_events(rt)) == 2
    finally:
        await rt.stop()


async def test_retention_archives_and_prunes_old_events(database_url: str, tmp_path: Path) -> None:
    clock = ManualClock(1_800_000_000.0)
    rt = await started(database_url, clock, audit_checkpoint_interval=3600, audit_retention_days=1,
                       audit_archive_dir=str(tmp_path / "archive"))
    try:
        await record(rt, 40, "day1-")
        made, archived = await rt.audit_schedule.tick()
        assert made and archived is None  # nothing is a day old yet
        clock.advance(2 * 3600)
        await record(rt, 10, "day1-late-")
        await rt.audit_schedule.tick()
        clock.advance(24 * 3600 + 60)  # the first checkpoint is now older than a day, the second not
        _made, archived = await rt.audit_schedule.tick()
        assert archived is not None and archived.first_seq == 1
        files = sorted((tmp_path / "archive").iterdir())
        assert [f.name for f in files] == [f"audit-{1:012d}-{archived.last_seq:012d}.jsonl.gz"]
        async with rt.db.sessions() as session:
            first = (await session.execute(select(func.min(AuditEvent.seq)))).scalar()
        assert first == archived.last_seq + 1 and archived.pruned == archived.last_seq
        assert (await verify_database(rt)).ok
        _count, problems, _ = await verify_archives(rt, files)
        assert problems == []
        assert (await rt.audit_schedule.tick())[1] is None  # nothing more is old enough
    finally:
        await rt.stop()
