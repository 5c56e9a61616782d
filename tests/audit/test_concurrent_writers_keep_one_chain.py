"""Several writers — runtimes in one process, and separate OS processes (workers, instances) — append to
the same audit log at the same time; the chain stays valid and ``seq`` stays gap-free, on a SQLite file
and on PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from sqlalchemy import select

from tests.support import TEST_MASTER_KEY, make_settings
from tokensmith.audit.operations import verify
from tokensmith.runtime import Runtime
from tokensmith.storage.migrate import upgrade
from tokensmith.storage.models import AuditEvent

ROOT = Path(__file__).resolve().parents[2]


async def _chain_summary(url: str) -> tuple[int, list[object], list[int], list[str]]:
    rt = Runtime(make_settings(url))
    try:
        count, problems = await verify(rt)
        async with rt.db.sessions() as session:
            rows = (await session.execute(select(AuditEvent.seq, AuditEvent.subject).order_by(AuditEvent.seq))).all()
        return count, list(problems), [r[0] for r in rows], [r[1] for r in rows]
    finally:
        await rt.stop()


async def test_several_runtimes_in_one_process_append_concurrently(database_url: str) -> None:
    writers = [Runtime(make_settings(database_url, audit_batch_size=7)) for _ in range(4)]
    await upgrade(writers[0].db)
    per_writer, rounds = 60, 6
    try:
        async def write(index: int, rt: Runtime) -> None:
            for r in range(rounds):
                for i in range(per_writer // rounds):
                    rt.audit.record("token.issued", actor=f"w{index}", subject=f"w{index}-{r}-{i}", grant="test")
                await rt.audit.flush()
                await asyncio.sleep(0)

        await asyncio.gather(*(write(i, rt) for i, rt in enumerate(writers)))
    finally:
        for rt in writers:
            await rt.stop()

    count, problems, seqs, subjects = await _chain_summary(database_url)
    assert problems == []
    assert count == len(writers) * per_writer
    assert seqs == list(range(1, count + 1))
    assert len(set(subjects)) == count  # every event exactly once


_WRITER = textwrap.dedent("""
    import asyncio, pathlib, sys, time
    from tokensmith.config import load_settings
    from tokensmith.runtime import Runtime

    async def main(name: str, barrier: str, processes: int, events: int) -> None:
        rt = Runtime(load_settings(audit_batch_size=5))
        await rt.db.ping()  # connected before anyone writes
        # a barrier: every process is up before the first one writes
        pathlib.Path(barrier, name).touch()
        deadline = time.time() + 60
        while len(list(pathlib.Path(barrier).iterdir())) < processes and time.time() < deadline:
            await asyncio.sleep(0.005)
        for i in range(events):
            rt.audit.record("token.issued", actor=name, subject=f"{name}-{i}", grant="test")
            if i % 5 == 4:
                await rt.audit.flush()
        await rt.stop()  # flushes the rest

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
""")


def test_several_processes_append_concurrently(database_url: str, tmp_path: Path) -> None:
    async def migrate() -> None:
        rt = Runtime(make_settings(database_url))
        await upgrade(rt.db)
        await rt.stop()

    asyncio.run(migrate())
    env = {**os.environ, "TOKENSMITH_ENV": "development", "TOKENSMITH_DATABASE_URL": database_url,
           "TOKENSMITH_MASTER_KEY": TEST_MASTER_KEY, "TOKENSMITH_LOG_LEVEL": "WARNING"}
    processes, events = 4, 100
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, f"p{n}", str(barrier), str(processes), str(events)],
                              env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for n in range(processes)]
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()

    count, problems, seqs, subjects = asyncio.run(_chain_summary(database_url))
    assert problems == []
    assert count == processes * events
    assert seqs == list(range(1, count + 1))
    assert len(set(subjects)) == count
    # the writers really interleaved (not one after the other)
    owners = [s.split("-")[0] for s in subjects]
    switches = sum(1 for a, b in itertools.pairwise(owners) if a != b)
    assert switches >= processes
