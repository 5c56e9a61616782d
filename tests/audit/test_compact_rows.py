"""The compact layout (revisions 0003, 0007 and 0008) stores exactly what the chain hashes: the verifier's fast
canonical form equals the writer's, whatever the values, and rows written under revision 0001 keep
verifying after the upgrades, and after a downgrade to 0003 and back (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from tests.support import make_settings
from tokensmith.audit.chain import GENESIS, ChainWalker, canonical, event_fields, link
from tokensmith.audit.names import json_names
from tokensmith.audit.operations import verify
from tokensmith.runtime import Runtime
from tokensmith.storage.compact import canonical_data, pack_ip, pack_text, to_micros, unpack_text
from tokensmith.storage.migrate import downgrade, upgrade
from tokensmith.storage.shapes import json_decoders, split

UUID = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
texts = st.one_of(st.none(), st.text(max_size=30), st.just(UUID), st.just(f"apikey:{UUID}"), st.just("ab" * 16))
json_values = st.recursive(st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.text(max_size=10),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                       max_size=3), max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(event_id=st.one_of(st.just(UUID), st.text(min_size=1, max_size=40)), tenant=texts, actor=texts,
       subject=texts, ip=st.one_of(st.none(), st.text(max_size=20), st.ip_addresses().map(str),
                                   st.sampled_from(["::ffff:10.0.0.1", "2001:DB8::1", "010.0.0.1"])),
       request_id=texts,
       data=st.dictionaries(st.text(max_size=8), json_values, max_size=4),
       micros=st.integers(0, 4_000_000_000_000_000))
def test_the_fast_canonical_form_is_the_writers(event_id: str, tenant: str | None, actor: str | None,
                                                subject: str | None, ip: str | None, request_id: str | None,
                                                data: dict[str, object], micros: int) -> None:
    at = datetime.fromtimestamp(0, UTC) + timedelta(microseconds=micros)
    fields = event_fields(7, event_id, at, "t.x", tenant, actor, subject, ip, request_id, data)
    key = b"k" * 32
    digest = link(key, GENESIS, fields)
    packed = None if request_id is None else pack_text(request_id)
    shaped = split(canonical_data(data))
    codes: dict[str, int] = {}
    for name in ("t.x", tenant, actor, shaped and shaped[0]):
        if name is not None:
            codes.setdefault(name, len(codes) + 1)
    row = (7, pack_text(event_id), to_micros(at), codes["t.x"], None if tenant is None else codes[tenant],
           None if actor is None else codes[actor], None if subject is None else pack_text(subject),
           None if ip is None else pack_ip(ip), packed, canonical_data(data) if shaped is None else shaped[1],
           bytes.fromhex(digest), None if shaped is None else codes[shaped[0]])
    names = {code: name for name, code in codes.items()}
    walker = ChainWalker(key, last_seq=6, names=json_names(names), shapes=json_decoders(names))
    assert walker._canonical(row) == canonical(fields)
    walker.feed([row])
    assert walker.problems == []


async def test_rows_written_before_the_upgrade_still_verify(database_url: str) -> None:
    rt = Runtime(make_settings(database_url))
    try:
        if rt.db.dialect == "postgresql":  # the test database is a copy of a migrated template
            async with rt.db.engine.begin() as conn:
                await conn.execute(text("DROP SCHEMA public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
        await upgrade(rt.db, "0001")
        prev = GENESIS
        async with rt.db.engine.begin() as conn:
            for seq in range(1, 8):
                at = datetime(2026, 1, 1, 0, 0, seq, 123456, tzinfo=UTC)
                values = {"seq": seq, "id": f"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a{seq:02d}",
                          "tenant_id": "3f0e2a1b-0000-4000-8000-000000000001", "actor": f"apikey:{UUID}",
                          "subject": "doctor ü", "ip": "10.0.0.1", "request_id": "ab" * 16}
                data = {"z": 1, "a": [1, "x"], "n": {"b": 2, "a": 1}}
                fields = event_fields(seq, values["id"], at, "exchange.issued", values["tenant_id"],
                                      values["actor"], values["subject"], values["ip"], values["request_id"], data)
                digest = link(rt.master.audit_key, prev, fields)
                await conn.execute(text(
                    "INSERT INTO audit_events (seq, id, at, type, tenant_id, actor, subject, ip, request_id, data,"
                    " prev_hash, hash) VALUES (:seq, :id, :at, 'exchange.issued', :tenant_id, :actor, :subject,"
                    " :ip, :request_id, :data, :prev, :hash)"),
                    {**values, "at": at.replace(tzinfo=None) if rt.db.dialect == "sqlite" else at,
                     "data": json.dumps(data), "prev": prev, "hash": digest})
                prev = digest
        await upgrade(rt.db)
        assert await verify(rt) == (7, [])
        rt.audit.record("exchange.issued", subject="after the upgrade", tenant_id="t2", actor="apikey:x",
                        ip="::1")
        await rt.audit.flush()
        assert await verify(rt) == (8, [])
        await downgrade(rt.db, "0003")
        await upgrade(rt.db)
        rt.audit.names.forget()  # the dictionary was rebuilt: codes assigned anew
        assert await verify(rt) == (8, [])
    finally:
        await rt.stop()


@given(address=st.one_of(st.ip_addresses().map(str), st.text(max_size=20)))
def test_a_packed_ip_unpacks_to_the_very_string(address: str) -> None:
    assert unpack_text(pack_ip(address)) == address


@settings(max_examples=500, deadline=None)
@given(value=st.one_of(st.text(max_size=40), st.just(UUID), st.text(max_size=8).map(lambda p: p + UUID),
                       st.binary(max_size=24).map(bytes.hex)),
       raw=st.binary(min_size=1, max_size=40))
def test_the_verifiers_string_json_is_orjsons(value: str, raw: bytes) -> None:
    """The verifier's shortcut for packed text columns gives orjson's bytes for every string, and for any
    stored bytes either the same bytes as the detour or the same refusal."""
    from tokensmith.audit.chain import _packed_json

    assert _packed_json(pack_text(value)) == orjson.dumps(value)
    try:
        expected: bytes | None = orjson.dumps(unpack_text(raw))
    except (ValueError, UnicodeDecodeError):
        expected = None
    if expected is None:
        with pytest.raises((ValueError, UnicodeDecodeError)):
            _packed_json(raw)
    else:
        assert _packed_json(raw) == expected
