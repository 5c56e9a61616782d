"""``audit verify`` in several processes reports exactly what the serial walk reports -- the same first
bad seq and the same message for every problem -- whether the tampering sits inside a part, on the first
row of a part, or on the row before one (SQLite and PostgreSQL). Parts are made tiny here (10 events)
so that 60 events give three processes' worth of boundaries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from tests.audit.helpers import record, started
from tokensmith.audit.checkpoints import create_checkpoint
from tokensmith.audit.parallel import cut
from tokensmith.audit.store import head
from tokensmith.audit.verification import verify_database
from tokensmith.runtime import Runtime
from tokensmith.storage.compact import pack_text

# 60 events (the two of initialise() first); 3 processes share 12 parts of 5: (0,5] (5,10] … (55,...]
PARTS = {"workers": 3, "min_part": 10}


@pytest.fixture
async def rt(database_url: str) -> AsyncIterator[Runtime]:
    runtime = await started(database_url, audit_checkpoint_interval=0)
    await record(runtime, 28, "a")
    assert await create_checkpoint(runtime) is not None  # a checkpoint inside the second part (seq 31)
    for i in range(29):
        runtime.audit.record("exchange.issued", tenant_id="3f0e2a1b-0000-4000-8000-000000000001",
                             actor="apikey:0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", subject=f"b{i}",
                             jti=f"0190a1b2-c3d4-7e5f-8a9b-{i:012d}", exp=1_800_000_000 + i, via="api_key")
    await runtime.audit.flush()
    assert (await head(runtime.db) or (0, ""))[0] == 60
    try:
        yield runtime
    finally:
        await runtime.stop()


async def _sql(rt: Runtime, statement: str, **params: Any) -> None:
    async with rt.db.engine.begin() as conn:
        await conn.execute(text(statement), params)


async def _both(rt: Runtime) -> tuple[dict[str, Any], dict[str, Any]]:
    serial = (await verify_database(rt)).view()
    parallel = (await verify_database(rt, **PARTS)).view()
    return serial, parallel


def test_the_range_is_cut_into_a_few_parts_per_process() -> None:
    assert cut(0, 60, 3, 10) == list(range(0, 60, 5))  # 4 parts per process, of min_part / 4 at least
    assert cut(0, 1_000_000, 2, 200_000) == list(range(0, 1_000_000, 125_000))
    assert cut(100, 125, 4, 10) == [100 + i * 25 // 12 for i in range(12)]
    assert cut(0, 19, 8, 10) == [0]  # under two processes' least share: one part
    assert cut(0, 10**6, 1, 10) == [0]  # one process: one part


async def test_an_untouched_chain_verifies_the_same_in_parallel(rt: Runtime) -> None:
    serial, parallel = await _both(rt)
    assert serial["ok"] and serial["events"] == 60
    assert parallel == serial


@pytest.mark.parametrize("seqs", [[25], [20], [21], [40, 41], [5, 33, 59]])
async def test_a_changed_row_is_reported_the_same_in_parallel(rt: Runtime, seqs: list[int]) -> None:
    for seq in seqs:
        await _sql(rt, "UPDATE audit_events SET subject = :s WHERE seq = :n", s=pack_text("evil"), n=seq)
    serial, parallel = await _both(rt)
    assert [p["seq"] for p in serial["problems"]] == seqs
    assert parallel == serial


@pytest.mark.parametrize("seqs", [[25], [20], [21], [19, 20], [40], [41]])
async def test_a_deleted_row_is_reported_the_same_in_parallel(rt: Runtime, seqs: list[int]) -> None:
    for seq in seqs:
        await _sql(rt, "DELETE FROM audit_events WHERE seq = :n", n=seq)
    serial, parallel = await _both(rt)
    assert serial["problems"][0]["seq"] == seqs[-1] + 1
    assert "sequence gap" in serial["problems"][0]["problem"]
    assert parallel == serial


async def test_a_changed_row_before_a_boundary_makes_the_next_part_report_a_broken_link(rt: Runtime) -> None:
    # seq 20 ends the first part and seq 21 starts the second: a copied hash on 21 after a changed 20 is
    # a broken link, which the second part only knows if it learned that 20 was bad
    await _sql(rt, "UPDATE audit_events SET subject = :s WHERE seq = 20", s=pack_text("evil"))
    await _sql(rt, "UPDATE audit_events SET hash = (SELECT hash FROM audit_events WHERE seq = 22) WHERE seq = 21")
    serial, parallel = await _both(rt)
    assert [p["seq"] for p in serial["problems"]][:2] == [20, 21]
    assert "broken link" in serial["problems"][1]["problem"]
    assert parallel == serial


async def test_a_forged_checkpoint_in_a_workers_part_is_reported_the_same(rt: Runtime) -> None:
    await _sql(rt, "UPDATE audit_events SET data = :d, shape_code = NULL WHERE seq = 31",
               d=orjson.dumps({"jws": "e30.e30.AAAA"}))
    serial, parallel = await _both(rt)
    assert any(p["seq"] == 31 and "forged checkpoint" in p["problem"] for p in serial["problems"])
    assert parallel == serial
