"""Chain format 2 hashes the stored bytes of a row (tokensmith.audit.stored_form): the writer writes it,
its layout is the documented one, a stored form holds exactly the event it was made from, and a chain
that changes from format 1 to format 2 verifies -- and reports tampering -- on both sides of the change,
in the database and in an archive (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from tests.audit.helpers import rewrite_archive, started, utc_micros
from tokensmith.audit.archive import archive, verify_archives
from tokensmith.audit.chain import GENESIS, canonical, event_fields, row_body
from tokensmith.audit.checkpoints import create_checkpoint
from tokensmith.audit.store import raw_chunks
from tokensmith.audit.stored_form import body, fields_of_body, packed_name, split_body
from tokensmith.audit.verification import verify_database, walker_for
from tokensmith.clock import ManualClock
from tokensmith.runtime import Runtime
from tokensmith.storage.compact import canonical_data, pack_ip, pack_text, to_micros
from tokensmith.storage.shapes import split

UUID = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
texts = st.one_of(st.none(), st.text(max_size=30), st.just(UUID), st.just(f"apikey:{UUID}"), st.just("ab" * 16))
json_values = st.recursive(st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.text(max_size=10),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                       max_size=3), max_leaves=8)


def _packed(value: str | None) -> bytes | None:
    return None if value is None else packed_name(value)


@settings(max_examples=300, deadline=None)
@given(event_id=st.one_of(st.just(UUID), st.text(min_size=1, max_size=40)), tenant=texts, actor=texts,
       subject=texts, ip=st.one_of(st.none(), st.text(max_size=20), st.ip_addresses().map(str)),
       request_id=texts, data=st.dictionaries(st.text(max_size=8), json_values, max_size=4),
       micros=st.integers(0, 4_000_000_000_000_000))
def test_a_stored_form_holds_exactly_the_event_it_was_made_from(
        event_id: str, tenant: str | None, actor: str | None, subject: str | None, ip: str | None,
        request_id: str | None, data: dict[str, object], micros: int) -> None:
    at = datetime.fromtimestamp(0, UTC) + timedelta(microseconds=micros)
    shaped = split(canonical_data(data))
    shape, stored_data = (None, canonical_data(data)) if shaped is None else shaped
    made = body(7, to_micros(at), pack_text(event_id), packed_name("t.x"), _packed(tenant), _packed(actor),
                None if subject is None else pack_text(subject), None if ip is None else pack_ip(ip),
                None if request_id is None else pack_text(request_id), _packed(shape), stored_data)
    expected = event_fields(7, event_id, at, "t.x", tenant, actor, subject, ip, request_id, data)
    assert canonical(fields_of_body(made)) == canonical(expected)


@pytest.fixture
async def rt(database_url: str) -> Any:
    runtime = await started(database_url, ManualClock(1_800_000_000.0))
    try:
        yield runtime
    finally:
        await runtime.stop()


def _record(rt: Runtime, n: int, prefix: str) -> None:
    for i in range(n):
        rt.audit.record("exchange.issued", tenant_id="3f0e2a1b-0000-4000-8000-000000000001", actor=f"apikey:{UUID}",
                        subject=f"{prefix}{i}", ip="10.0.0.1" if i % 2 else None, request_id="ab" * 16,
                        jti=f"jti-{prefix}{i}")


async def _rows(rt: Runtime) -> list[Any]:
    return [row async for chunk in raw_chunks(rt.db) for row in chunk]


async def test_the_writer_hashes_the_documented_layout_of_the_stored_bytes(rt: Runtime) -> None:
    _record(rt, 4, "w")
    await rt.audit.flush()
    names = await rt.audit.names.load_all()
    prev = bytes(32)
    for seq, id_, at, type_, tenant, actor, subject, ip, request_id, data, digest, shape in await _rows(rt):
        fields = [bytes(id_), pack_text(names[type_]), *(None if c is None else pack_text(names[c])
                                                           for c in (tenant, actor)),
                  *(None if v is None else bytes(v) for v in (subject, ip, request_id)),
                  None if shape is None else pack_text(names[shape]), bytes(data)]
        layout = (b"\x02" + prev + struct.pack(">qq", seq, at)
                  + b"".join(struct.pack(">i", -1 if f is None else len(f)) for f in fields)
                  + b"".join(f for f in fields if f is not None))
        assert bytes(digest) == hmac.new(rt.master.audit_key, layout, hashlib.sha256).digest(), seq
        prev = bytes(digest)


async def _rechain_first_rows_as_format_1(rt: Runtime, count: int) -> None:
    """Rewrite the hashes as a database written before format 2 and then upgraded would hold them: rows
    1..count in format 1, the rest (written after the upgrade) in format 2, one chain."""
    walker = await walker_for(rt, last_seq=0, last_hash=GENESIS)
    mac = walker._mac
    prev = bytes(32)
    async with rt.db.engine.begin() as conn:
        for row in await _rows(rt):
            if row[0] <= count:
                digest = mac(prev.hex().encode() + b"\n" + walker._canonical(row))
            else:
                digest = mac(b"\x02" + prev + row_body(row, walker.packed_names))
            await conn.execute(text("UPDATE audit_events SET hash = :h WHERE seq = :s"), {"h": digest, "s": row[0]})
            prev = digest


async def _chain_of_both_formats(rt: Runtime, each: int) -> int:
    """``each`` events in format 1 after the runtime's own, then ``each`` in format 2; returns the seq of the
    last format-1 row."""
    _record(rt, each, "old")
    await rt.audit.flush()
    before = (await verify_database(rt)).events
    _record(rt, each, "new")
    await rt.audit.flush()
    await _rechain_first_rows_as_format_1(rt, before)
    return before


async def test_a_chain_that_changes_format_verifies_and_tampering_on_either_side_is_found(rt: Runtime) -> None:
    before = await _chain_of_both_formats(rt, 30)
    result = await verify_database(rt)
    assert result.ok and result.events == before + 30
    async with rt.db.engine.begin() as conn:
        for seq in (before - 5, before + 1, before + 20):
            await conn.execute(text("UPDATE audit_events SET subject = :v WHERE seq = :s"),
                               {"v": pack_text("someone else"), "s": seq})
    problems = {p.seq: p.problem for p in (await verify_database(rt)).problems}
    assert set(problems) == {before - 5, before + 1, before + 20}
    assert all("hash mismatch" in p for p in problems.values())


async def test_an_archive_of_both_formats_verifies_and_a_changed_stored_form_is_reported(
        rt: Runtime, tmp_path: Path) -> None:
    clock = rt.clock
    assert isinstance(clock, ManualClock)
    before = await _chain_of_both_formats(rt, 12)
    await create_checkpoint(rt)
    clock.advance(60)
    _record(rt, 3, "late")
    await rt.audit.flush()
    path = tmp_path / "a.jsonl.gz"
    result = await archive(rt, utc_micros(clock.now()), path, prune=True)
    assert result.last_seq == before + 12  # the checkpoint states the head before it
    count, problems, _ = await verify_archives(rt, [path])
    assert problems == [] and count == result.events

    def change(lines: list[dict[str, Any]]) -> None:
        assert "stored" not in lines[before] and "stored" in lines[before + 3]  # line 0: the header
        stored = bytearray(base64.b64decode(lines[before + 3]["stored"]))
        stored[-1] ^= 1  # the readable fields stay as they were
        lines[before + 3]["stored"] = base64.b64encode(bytes(stored)).decode()

    rewrite_archive(path, change)
    _count, problems, _ = await verify_archives(rt, [path])
    assert [p.seq for p in problems] == [before + 3] and "changed" in problems[0].problem


@pytest.mark.parametrize("cut", [1, -1])
def test_a_truncated_or_overlong_body_is_refused_not_misread(cut: int) -> None:
    made = body(3, 10, pack_text(UUID), packed_name("t.x"), None, None, pack_text("s"), None, None, None, b"{}")
    damaged = made[:-1] if cut == 1 else made + b"x"
    with pytest.raises(ValueError):
        fields_of_body(damaged)
    with pytest.raises(ValueError):
        split_body(made[:10])  # shorter than the header


async def test_an_unreadable_stored_form_in_an_archive_is_reported_not_a_crash(rt: Runtime, tmp_path: Path) -> None:
    clock = rt.clock
    assert isinstance(clock, ManualClock)
    _record(rt, 6, "e")
    await rt.audit.flush()
    await create_checkpoint(rt)
    clock.advance(60)
    path = tmp_path / "a.jsonl.gz"
    await archive(rt, utc_micros(clock.now()), path, prune=False)

    def change(lines: list[dict[str, Any]]) -> None:
        lines[3]["stored"] = "not base64 at all!"

    rewrite_archive(path, change)
    _count, problems, _ = await verify_archives(rt, [path])
    assert [p.seq for p in problems] == [3] and "changed" in problems[0].problem
