"""The crash spool's replay writes each event once: an event that was committed before its process died
(its segment not yet deleted) is not written again, a line cut short is skipped, and the segments of a
process that is still alive are left alone."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import select

from tests.support import make_settings
from tokensmith.audit.operations import verify
from tokensmith.audit.unwritten import unwritten_report
from tokensmith.bootstrap import initialise
from tokensmith.runtime import Runtime
from tokensmith.storage.models import AuditEvent


async def _subjects(rt: Runtime) -> list[str | None]:
    async with rt.db.sessions() as session:
        return list((await session.execute(select(AuditEvent.subject).order_by(AuditEvent.seq))).scalars())


async def test_replay_skips_events_already_committed_and_leaves_live_owners_alone(
    database_url: str, tmp_path: Path,
) -> None:
    settings = make_settings(database_url, audit_spool_dir=str(tmp_path / "spool"))
    first = Runtime(settings)
    await initialise(first)
    await first.audit.flush()
    first.audit.record("token.issued", subject="committed")
    first.audit.record("token.issued", subject="also-committed")
    spool = first.audit.spool
    assert spool is not None
    segments = sorted(spool.directory.glob("audit-*.spool"))
    assert len(segments) == 1
    # What a crash right after the COMMIT (before the segment's deletion) leaves behind: a dead owner
    # whose segment holds committed events, plus one that was not, plus a line cut short.
    dead = spool.directory / "audit-99999-deadbeef-0.spool"
    shutil.copy(segments[0], dead)
    await first.audit.flush()
    assert not segments[0].exists()  # committed: deleted
    with dead.open("ab") as fh:
        fh.write(b'{"id": "0191d3c2-8a4b-7cde-9f01-23456789abcd", "ts": 1700000000.0, "type": "token.issued", '
                 b'"subject": "lost-in-the-crash", "data": {}}\n{"id": "cut-sh')
    (spool.directory / "owner-99999-deadbeef.lock").touch()

    # `first` is alive: a new event of its own stays in its segment while `second` starts.
    first.audit.record("token.issued", subject="live-and-pending")
    before = sorted(p.name for p in spool.directory.glob(f"audit-{spool.owner}-*.spool"))
    assert (await unwritten_report(first))["crashed"] == 1  # only the event that never made it

    second = Runtime(settings)
    await second.start(background=False)
    try:
        assert second.audit.replay_spool() == 3  # two committed, one not; the cut line skipped
        await second.audit.flush()
        assert not dead.exists() and not (spool.directory / "owner-99999-deadbeef.lock").exists()
        assert sorted(p.name for p in spool.directory.glob(f"audit-{spool.owner}-*.spool")) == before

        subjects = await _subjects(second)
        assert subjects.count("committed") == 1 and subjects.count("also-committed") == 1
        assert subjects.count("lost-in-the-crash") == 1 and "live-and-pending" not in subjects
        await first.audit.flush()
        subjects = await _subjects(second)
        assert subjects.count("live-and-pending") == 1
        count, problems = await verify(second)
        assert problems == [] and count == len(subjects)
        assert (await unwritten_report(second))["missing"] == 0
    finally:
        await second.stop()
        await first.stop()
    assert not spool.directory.exists()  # nothing left once everything is written and both stopped
