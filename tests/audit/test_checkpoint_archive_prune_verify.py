"""Checkpoint -> archive -> prune -> verify, on SQLite and PostgreSQL: the database verifies from the
archived checkpoint on, the archive verifies on its own and hands over to the database, and tampering
in either -- a changed event, a deleted row, a forged checkpoint -- is reported with its seq."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from joserfc import jws
from joserfc.jwk import KeySet
from sqlalchemy import func, select, text

from tests.audit.helpers import assert_nothing_lost_or_doubled, record, rewrite_archive, started, utc_micros
from tokensmith.audit.archive import archive, verify_archives
from tokensmith.audit.checkpoints import CHECKPOINT_TYP, create_checkpoint
from tokensmith.audit.verification import verify_database
from tokensmith.clock import ManualClock
from tokensmith.errors import InvalidRequest
from tokensmith.runtime import Runtime
from tokensmith.storage.models import AuditEvent


@pytest.fixture
async def rt(database_url: str) -> AsyncIterator[Runtime]:
    runtime = await started(database_url)
    try:
        yield runtime
    finally:
        await runtime.stop()


def clock(rt: Runtime) -> ManualClock:
    assert isinstance(rt.clock, ManualClock)
    return rt.clock


async def _two_checkpoints(rt: Runtime) -> tuple[int, int]:
    """50 events, checkpoint, an hour, 20 events, checkpoint, 10 events; returns the cut-off between."""
    await record(rt, 50, "a")
    first = await create_checkpoint(rt)
    clock(rt).advance(3600)
    cutoff = utc_micros(clock(rt).now())
    await record(rt, 20, "b")
    await create_checkpoint(rt)
    await record(rt, 10, "c")
    assert first is not None
    return first.seq, cutoff


async def test_a_checkpoint_is_a_jws_that_verifies_against_the_jwks(rt: Runtime) -> None:
    await record(rt, 5)
    made = await create_checkpoint(rt)
    assert made is not None
    keys = KeySet.import_key_set(rt.keyring.jwks())
    token = jws.deserialize_compact(made.jws, keys, algorithms=["ES256"])
    assert token.headers()["typ"] == CHECKPOINT_TYP
    claims = orjson.loads(token.payload)
    assert (claims["seq"], claims["hash"], claims["events"]) == (made.seq, made.hash, made.seq)
    assert claims["iat"] == int(clock(rt).now())
    async with rt.db.sessions() as session:
        event = (await session.execute(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1))).scalar_one()
    assert event.type == "audit.checkpoint" and event.seq == made.seq + 1 and event.data["jws"] == made.jws


async def test_archive_prune_and_verify_round_trip(rt: Runtime, tmp_path: Path) -> None:
    boundary, cutoff = await _two_checkpoints(rt)
    path = tmp_path / "a.jsonl.gz"
    result = await archive(rt, cutoff, path, prune=True)
    assert (result.first_seq, result.last_seq, result.pruned) == (1, boundary, boundary)
    async with rt.db.sessions() as session:
        assert (await session.execute(select(func.min(AuditEvent.seq)))).scalar() == boundary + 1

    db = await verify_database(rt)
    assert db.ok, db.problems
    assert db.anchor == f"checkpoint of seq {boundary}" and db.first_seq == boundary + 1
    count, problems, handover = await verify_archives(rt, [path])
    assert (count, problems, handover["database_first_seq"]) == (boundary, [], boundary + 1)
    recent = await verify_database(rt, since_checkpoint=True)
    assert recent.ok and recent.events == 11  # the ten events and the newest checkpoint event after it

    # a second archive continues where the first one ended, and the two join
    clock(rt).advance(3600)
    await create_checkpoint(rt)
    second = tmp_path / "b.jsonl.gz"
    more = await archive(rt, utc_micros(clock(rt).now()) + 1, second, prune=True)
    assert more.first_seq == boundary + 1
    count, problems, _ = await verify_archives(rt, [second, path])
    assert problems == [] and count == more.last_seq
    assert (await verify_database(rt)).ok


async def test_a_changed_or_deleted_event_in_the_archive_is_reported_with_its_seq(rt: Runtime,
                                                                                  tmp_path: Path) -> None:
    _boundary, cutoff = await _two_checkpoints(rt)
    path = tmp_path / "a.jsonl.gz"
    await archive(rt, cutoff, path, prune=True)

    def change(lines: list[dict[str, Any]]) -> None:
        lines[10]["subject"] = "someone-else"  # line 0 is the header: this is seq 10

    rewrite_archive(path, change)
    _count, problems, _ = await verify_archives(rt, [path])
    assert [p.seq for p in problems] == [10] and "changed" in problems[0].problem

    rewrite_archive(path, lambda lines: lines.pop(20))  # seq 20 gone
    _count, problems, _ = await verify_archives(rt, [path])
    assert 21 in {p.seq for p in problems}


async def test_a_forged_checkpoint_in_the_archive_is_reported(rt: Runtime, tmp_path: Path) -> None:
    boundary, cutoff = await _two_checkpoints(rt)
    path = tmp_path / "a.jsonl.gz"
    await archive(rt, cutoff, path)

    def forge(lines: list[dict[str, Any]]) -> None:
        head, payload, signature = str(lines[0]["checkpoint"]).split(".")
        claims = orjson.loads(base64.urlsafe_b64decode(payload + "=="))
        claims["hash"] = "f" * 64
        forged = base64.urlsafe_b64encode(orjson.dumps(claims)).rstrip(b"=").decode()
        lines[0]["checkpoint"] = f"{head}.{forged}.{signature}"

    rewrite_archive(path, forge)
    _count, problems, _ = await verify_archives(rt, [path])
    assert any(p.seq == boundary and "forged checkpoint" in p.problem for p in problems)


async def test_tampering_in_the_database_after_a_prune_is_reported_with_its_seq(rt: Runtime,
                                                                                tmp_path: Path) -> None:
    boundary, cutoff = await _two_checkpoints(rt)
    await archive(rt, cutoff, tmp_path / "a.jsonl.gz", prune=True)
    async with rt.db.engine.begin() as conn:
        await conn.execute(text("UPDATE audit_events SET ip = '6.6.6.6' WHERE seq = :s"), {"s": boundary + 5})
        await conn.execute(text("DELETE FROM audit_events WHERE seq = :s"), {"s": boundary + 9})
    result = await verify_database(rt)
    assert {p.seq for p in result.problems} == {boundary + 5, boundary + 10}

    # the first row after the archive deleted too: the hand-over to the archive breaks
    async with rt.db.engine.begin() as conn:
        await conn.execute(text("DELETE FROM audit_events WHERE seq = :s"), {"s": boundary + 1})
    _count, problems, _ = await verify_archives(rt, [tmp_path / "a.jsonl.gz"])
    assert [p.seq for p in problems] == [boundary + 1]
    assert not (await verify_database(rt)).ok


async def test_a_forged_checkpoint_event_in_the_database_is_reported(rt: Runtime) -> None:
    await record(rt, 5)
    made = await create_checkpoint(rt)
    assert made is not None
    head, _payload, signature = made.jws.split(".")
    other = await create_checkpoint(rt)  # a valid signature over other claims
    assert other is not None
    forged = f"{head}.{other.jws.split('.')[1]}.{signature}"
    async with rt.db.engine.begin() as conn:
        await conn.execute(text("UPDATE audit_events SET data = :d, shape_code = NULL WHERE seq = :s"),
                           {"d": orjson.dumps({"jws": forged}), "s": made.seq + 1})
    result = await verify_database(rt)
    seqs = {p.seq for p in result.problems}
    assert made.seq + 1 in seqs
    assert any("forged checkpoint" in p.problem for p in result.problems)


async def test_archiving_needs_a_checkpoint_before_the_date(rt: Runtime, tmp_path: Path) -> None:
    await record(rt, 5)
    with pytest.raises(InvalidRequest, match="no checkpoint before"):
        await archive(rt, utc_micros(clock(rt).now()) + 1, tmp_path / "x.jsonl.gz")
    await create_checkpoint(rt)
    (tmp_path / "exists.jsonl.gz").write_bytes(b"")
    with pytest.raises(InvalidRequest, match="never overwritten"):
        await archive(rt, utc_micros(clock(rt).now()) + 1, tmp_path / "exists.jsonl.gz")


async def test_archiving_under_concurrent_writes_loses_and_duplicates_nothing(rt: Runtime, tmp_path: Path) -> None:
    await record(rt, 3000, "old")
    await create_checkpoint(rt)
    clock(rt).advance(10)
    stop = asyncio.Event()
    written = 0

    async def writer() -> None:
        nonlocal written
        while not stop.is_set():
            await record(rt, 20, f"new{written}-")
            written += 20
            await asyncio.sleep(0)

    task = asyncio.create_task(writer())
    await asyncio.sleep(0.05)
    result = await archive(rt, utc_micros(clock(rt).now()), tmp_path / "a.jsonl.gz", prune=True)
    await asyncio.sleep(0.05)
    stop.set()
    await task
    assert written > 0
    await assert_nothing_lost_or_doubled(rt, tmp_path / "a.jsonl.gz", result.last_seq, written)
