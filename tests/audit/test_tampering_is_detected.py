"""The audit log is hash-chained and keyed: changing, inserting or deleting a row is detected by
``services.audit.verify`` (the CLI's ``tokensmith audit verify`` is tested in tests/cli), on SQLite and
PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

from tests.support import make_settings
from tokensmith.audit.chain import event_fields, link
from tokensmith.runtime import Runtime
from tokensmith.services.audit import export, verify
from tokensmith.storage.compact import pack_text, to_micros, unpack_text
from tokensmith.storage.migrate import upgrade
from tokensmith.storage.models import AuditEvent

EVENTS = 6


@pytest.fixture
async def rt(database_url: str) -> AsyncIterator[Runtime]:
    runtime = Runtime(make_settings(database_url))
    await upgrade(runtime.db)
    for i in range(EVENTS):
        runtime.audit.record("client.created", actor="cli", subject=f"client-{i}", name=f"n{i}", scopes=["a.read"])
    await runtime.audit.flush()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def _sql(rt: Runtime, statement: str, **params: object) -> None:
    async with rt.db.engine.begin() as conn:
        await conn.execute(text(statement), params)


async def _row(rt: Runtime, seq: int) -> dict[str, object]:
    async with rt.db.engine.connect() as conn:
        row = (await conn.execute(text("SELECT * FROM audit_events WHERE seq = :s"), {"s": seq})).mappings().one()
    return dict(row)


async def _insert(rt: Runtime, seq: int, digest: str) -> None:
    await _sql(rt, "INSERT INTO audit_events (seq, id, at, type, tenant_id, actor, subject, ip, request_id, data,"
               " hash) VALUES (:seq, :id, :at, 'client.created', NULL, :actor, :subject, NULL, NULL, '{}', :hash)",
               seq=seq, id=pack_text(f"00000000-0000-4000-8000-{seq:012d}"), at=to_micros(datetime.now(UTC)),
               actor=pack_text("attacker"), subject=pack_text("ghost"), hash=bytes.fromhex(digest))


async def _load_at(rt: Runtime, seq: int) -> datetime:
    async with rt.db.sessions() as session:
        return (await session.execute(select(AuditEvent.at).where(AuditEvent.seq == seq))).scalar_one()


async def _problems(rt: Runtime) -> dict[int, list[str]]:
    _count, problems = await verify(rt)
    found: dict[int, list[str]] = {}
    for p in problems:
        found.setdefault(p.seq, []).append(p.problem)
    return found


async def test_an_untouched_chain_verifies(rt: Runtime) -> None:
    count, problems = await verify(rt)
    assert (count, problems) == (EVENTS, [])


@pytest.mark.parametrize("column, value", [("subject", "someone-else"), ("actor", "admin"),
                                           ("type", "client.deleted"), ("data", '{"name": "n2"}')])
async def test_a_changed_row_is_detected(rt: Runtime, column: str, value: str) -> None:
    stored = pack_text(value) if column in ("subject", "actor") else value
    await _sql(rt, f"UPDATE audit_events SET {column} = :v WHERE seq = 3", v=stored)
    problems = await _problems(rt)
    assert list(problems) == [3]
    assert "hash mismatch" in problems[3][0]


async def test_a_changed_row_with_a_recomputed_unkeyed_hash_is_detected(rt: Runtime) -> None:
    """Without the master key an attacker cannot rebuild the link, even if they know the scheme."""
    row = await _row(rt, 3)
    fields = event_fields(3, unpack_text(bytes(row["id"])), (await _load_at(rt, 3)), str(row["type"]), None, "cli",
                          "forged",
                          None, None, {"name": "n2"})
    forged = link(b"guessed key", bytes((await _row(rt, 2))["hash"]).hex(), fields)
    await _sql(rt, "UPDATE audit_events SET subject = :s, hash = :h WHERE seq = 3", s=pack_text("forged"),
               h=bytes.fromhex(forged))
    problems = await _problems(rt)
    assert 3 in problems and "hash mismatch" in problems[3][0]
    assert 4 in problems  # and the next row no longer links to it


async def test_a_row_inserted_in_the_middle_is_detected(rt: Runtime) -> None:
    # Make room after seq 3 (two steps, so that the primary key never collides), then insert a row that
    # links correctly to seq 3 but whose own hash cannot be computed without the key.
    await _sql(rt, "UPDATE audit_events SET seq = -(seq + 1) WHERE seq > 3")
    await _sql(rt, "UPDATE audit_events SET seq = -seq WHERE seq < 0")
    await _insert(rt, 4, hashlib.sha256(b"forged").hexdigest())
    problems = await _problems(rt)
    assert min(problems) == 4
    assert any("hash mismatch" in p for p in problems[4])
    assert any("broken link" in p for p in problems[5])


async def test_a_row_appended_at_the_end_is_detected(rt: Runtime) -> None:
    await _insert(rt, EVENTS + 1, hashlib.sha256(b"forged").hexdigest())
    problems = await _problems(rt)
    assert list(problems) == [EVENTS + 1]


async def test_a_deleted_row_in_the_middle_is_detected(rt: Runtime) -> None:
    await _sql(rt, "DELETE FROM audit_events WHERE seq = 3")
    problems = await _problems(rt)
    assert list(problems) == [4]
    assert any("sequence gap" in p for p in problems[4])
    assert any("broken link" in p for p in problems[4])


async def test_a_deleted_row_with_renumbered_successors_is_detected(rt: Runtime) -> None:
    await _sql(rt, "DELETE FROM audit_events WHERE seq = 3")
    await _sql(rt, "UPDATE audit_events SET seq = -(seq - 1) WHERE seq > 3")
    await _sql(rt, "UPDATE audit_events SET seq = -seq WHERE seq < 0")
    problems = await _problems(rt)
    assert min(problems) == 3
    assert any("hash mismatch" in p for p in problems[3])


@pytest.mark.parametrize("column, value", [("data", "not json {"), ("at", "yesterday at noon")])
async def test_an_unreadable_row_is_reported_not_a_crash(sqlite_url: str, column: str, value: str) -> None:
    """SQLite stores whatever is written; a row garbled beyond parsing is a finding, not a traceback."""
    runtime = Runtime(make_settings(sqlite_url))
    await upgrade(runtime.db)
    for i in range(EVENTS):
        runtime.audit.record("client.created", subject=f"client-{i}")
    await runtime.audit.flush()
    try:
        await _sql(runtime, f"UPDATE audit_events SET {column} = :v WHERE seq = 3", v=value)
        count, problems = await verify(runtime)
        assert count == EVENTS
        assert [p.seq for p in problems] == [3]
        assert "unreadable" in problems[0].problem
        lines = [json.loads(line) for line in await export(runtime)]
        assert [line["seq"] for line in lines] == list(range(1, EVENTS + 1))
        assert lines[2]["unreadable"] is True
    finally:
        await runtime.stop()
