"""Several instances (or ``tokensmith serve`` processes) starting at the same time on a new database each
run ``init``; together they create one default tenant and one active + one next signing key."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from tests.support import TEST_MASTER_KEY, make_settings
from tokensmith.audit.operations import verify
from tokensmith.bootstrap import initialise
from tokensmith.runtime import Runtime
from tokensmith.storage.models import SigningKey, Tenant

ROOT = Path(__file__).resolve().parents[2]


async def _state(url: str) -> tuple[list[str], int, int, list[object]]:
    rt = Runtime(make_settings(url))
    try:
        async with rt.db.sessions() as session:
            statuses = sorted((await session.execute(select(SigningKey.status))).scalars())
            tenants = (await session.execute(select(func.count()).select_from(Tenant))).scalar_one()
        count, problems = await verify(rt)
        return statuses, tenants, count, list(problems)
    finally:
        await rt.stop()


async def test_concurrent_initialise_in_one_process(database_url: str) -> None:
    runtimes = [Runtime(make_settings(database_url)) for _ in range(4)]
    try:
        results = await asyncio.gather(*(initialise(rt) for rt in runtimes))
    finally:
        for rt in runtimes:
            await rt.stop()
    assert sum(r["signing_key_created"] for r in results) == 1
    assert len({r["tenant_id"] for r in results}) == 1
    statuses, tenants, _count, problems = await _state(database_url)
    assert statuses == ["active", "next"]
    assert tenants == 1
    assert problems == []


_INIT = "import asyncio; from tokensmith.config import load_settings; from tokensmith.runtime import Runtime; " \
        "from tokensmith.bootstrap import initialise\n" \
        "async def main():\n" \
        "    rt = Runtime(load_settings())\n" \
        "    try:\n        print((await initialise(rt))['signing_key_created'])\n" \
        "    finally:\n        await rt.stop()\n" \
        "asyncio.run(main())\n"


def test_concurrent_init_commands_in_several_processes(database_url: str) -> None:
    env = {**os.environ, "TOKENSMITH_ENV": "development", "TOKENSMITH_DATABASE_URL": database_url,
           "TOKENSMITH_MASTER_KEY": TEST_MASTER_KEY}
    procs = [subprocess.Popen([sys.executable, "-c", _INIT], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outputs.append(out.strip())
    assert sorted(outputs) == ["False", "False", "True"]
    statuses, tenants, _count, problems = asyncio.run(_state(database_url))
    assert statuses == ["active", "next"]
    assert tenants == 1
    assert problems == []
