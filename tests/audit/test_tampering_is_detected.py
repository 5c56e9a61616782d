"""The audit log is hash-chained and keyed: changing, inserting or deleting a row is detected by
``audit.operations.verify`` (the CLI's ``tokensmith audit verify`` is tested in tests/cli), on SQLite and
PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from tests.support import make_settings
from tokensmith.audit.chain import event_fields, link
from tokensmith.audit.mac import prekeyed_sha256
from tokensmith.audit.operations import export, verify
from tokensmith.runtime import Runtime
from tokensmith.storage.compact import pack_ip, pack_text, to_micros, unpack_text
from tokensmith.storage.migrate import upgrade
from tokensmith.storage.models import AuditEvent

EVENTS = 6


@pytest.fixture
async def rt(database_url: str) -> AsyncIterator[Runtime]:
    runtime = Runtime(make_settings(database_url))
    await upgrade(runtime.db)
    for i in range(EVENTS):
        runtime.audit.record("client.created", actor="cli", subject=f"client-{i}", name=f"n{i}", scopes=["a.read"],
                             tenant_id="3f0e2a1b-0000-4000-8000-000000000001", ip="10.0.0.1")
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
    code = await _name_code(rt, "attacker")
    await _sql(rt, "INSERT INTO audit_events (seq, id, at, type_code, tenant_code, actor_code, subject, ip,"
               " request_id, data, hash) VALUES (:seq, :id, :at, (SELECT type_code FROM audit_events WHERE seq = 1),"
               " NULL, :actor, :subject, NULL, NULL, :data, :hash)", data=b"{}",
               seq=seq, id=pack_text(f"00000000-0000-4000-8000-{seq:012d}"), at=to_micros(datetime.now(UTC)),
               actor=code, subject=pack_text("ghost"), hash=bytes.fromhex(digest))


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


async def _name_code(rt: Runtime, name: str) -> int:
    """A code for ``name`` in the dictionary (as an attacker with database access would add one)."""
    await _sql(rt, "INSERT INTO audit_names (name) VALUES (:n)", n=pack_text(name))
    async with rt.db.engine.connect() as conn:
        return int((await conn.execute(text("SELECT id FROM audit_names WHERE name = :n"),
                                       {"n": pack_text(name)})).scalar_one())


@pytest.mark.parametrize("column, value", [("subject", "someone-else"), ("actor_code", "admin"),
                                           ("type_code", "client.deleted"), ("tenant_code", "another-tenant"),
                                           ("ip", "6.6.6.6"), ("data", "n3")])
async def test_a_changed_row_is_detected(rt: Runtime, column: str, value: str) -> None:
    stored: object = value
    if column in ("subject", "ip"):
        stored = pack_text(value) if column == "subject" else pack_ip(value)
    elif column.endswith("_code"):
        stored = await _name_code(rt, value)
    elif column == "data":  # one packed value changed, the shape kept (the events' data is {"name": "n<i>"})
        stored = bytes((await _row(rt, 3))["data"]).replace(b"n2", value.encode())
    await _sql(rt, f"UPDATE audit_events SET {column} = :v WHERE seq = 3", v=stored)
    problems = await _problems(rt)
    assert list(problems) == [3]
    assert "hash mismatch" in problems[3][0]


async def test_data_replaced_by_other_json_is_detected(rt: Runtime) -> None:
    await _sql(rt, "UPDATE audit_events SET data = :d, shape_code = NULL WHERE seq = 3", d=b'{"name":"n9"}')
    problems = await _problems(rt)
    assert list(problems) == [3] and "hash mismatch" in problems[3][0]


async def test_a_shape_code_pointing_at_no_shape_makes_the_row_unreadable(rt: Runtime) -> None:
    await _sql(rt, "UPDATE audit_events SET shape_code = type_code WHERE seq = 3")
    problems = await _problems(rt)
    assert list(problems) == [3] and "unreadable" in problems[3][0]


async def test_a_renamed_dictionary_entry_is_detected_in_every_row_that_uses_it(rt: Runtime) -> None:
    """A name is stored once for many rows: changing it changes all of them, and each is reported."""
    await _sql(rt, "UPDATE audit_names SET name = :n WHERE name = :o", n=pack_text("client.deleted"),
               o=pack_text("client.created"))
    problems = await _problems(rt)
    assert list(problems) == list(range(1, EVENTS + 1))
    assert "hash mismatch" in problems[1][0]


async def test_a_code_missing_from_the_dictionary_is_reported_as_unreadable(rt: Runtime) -> None:
    await _sql(rt, "UPDATE audit_events SET actor_code = 999999 WHERE seq = 3")
    problems = await _problems(rt)
    assert list(problems) == [3]
    assert "unreadable" in problems[3][0]


async def test_a_changed_row_with_a_recomputed_unkeyed_hash_is_detected(rt: Runtime) -> None:
    """Without the master key an attacker cannot rebuild the link, even if they know the scheme."""
    row = await _row(rt, 3)
    fields = event_fields(3, unpack_text(bytes(row["id"])), (await _load_at(rt, 3)), "client.created",
                          "3f0e2a1b-0000-4000-8000-000000000001", "cli",
                          "forged",
                          "10.0.0.1", None, {"name": "n2", "scopes": ["a.read"]})
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


@settings(max_examples=200, deadline=None)
@given(key=st.binary(min_size=0, max_size=130), message=st.binary(max_size=600))
def test_the_prekeyed_hmac_is_hmac_sha256(key: bytes, message: bytes) -> None:
    """The verifier's key-once HMAC gives exactly ``hmac.digest`` (short, block-sized and long keys)."""
    assert prekeyed_sha256(key)(message) == hmac.digest(key, message, "sha256")
