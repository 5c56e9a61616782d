"""Revision 0008 (``data`` as a dictionary shape plus packed values): packing is lossless or not done at
all, and rows written under revision 0005's schema (``data`` as canonical JSON text) are upgraded so that
the chain still verifies, the listing still shows their data, and a downgrade gives the same rows back
(SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from tests.support import make_settings
from tokensmith.audit.chain import GENESIS, event_fields, link
from tokensmith.audit.listing import Filters, list_events
from tokensmith.audit.operations import verify
from tokensmith.runtime import Runtime
from tokensmith.storage.compact import canonical_data, pack_ip, pack_text, to_micros
from tokensmith.storage.migrate import downgrade, upgrade
from tokensmith.storage.shapes import shape_named, split

UUID = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
TENANT = "3f0e2a1b-0000-4000-8000-000000000001"
values = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
                      | st.text(max_size=12) | st.just(UUID) | st.just(UUID.upper()),
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                  max_size=3), max_leaves=6)


@settings(max_examples=400, deadline=None)
@given(data=st.dictionaries(st.text(max_size=8), values, max_size=6))
def test_packed_data_gives_back_the_very_canonical_json(data: dict[str, object]) -> None:
    try:
        original = canonical_data(data)
    except TypeError:  # an integer beyond 64 bits: the writer's set-aside path, not packing
        return
    found = split(original)
    if found is not None:
        name, packed = found
        assert shape_named(name).json(packed) == original


def test_an_exchange_event_packs_its_uuids_as_bytes() -> None:
    found = split(canonical_data({"exp": 1_790_003_600, "jti": UUID, "sid": UUID, "via": "api_key"}))
    assert found is not None and len(found[1]) == 4 + 16 + 16 + 1 + 7


async def _fresh(rt: Runtime) -> None:
    if rt.db.dialect == "postgresql":  # the test database is a copy of a migrated template
        async with rt.db.engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))


async def _write_0005_rows(rt: Runtime, datas: list[dict[str, object]]) -> None:
    """Rows as revision 0005's schema stores them (0007's layout: ``data`` canonical JSON text)."""
    prev = GENESIS
    async with rt.db.engine.begin() as conn:
        await conn.execute(text("INSERT INTO audit_names (id, name) VALUES (3, :t), (4, :a)"),
                           {"t": pack_text(TENANT), "a": pack_text(f"apikey:{UUID}")})
        for seq, data in enumerate(datas, start=1):
            at = datetime(2026, 1, 1, 0, 0, seq, 654321, tzinfo=UTC)
            event_id = f"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a{seq:02d}"
            fields = event_fields(seq, event_id, at, "exchange.issued", TENANT, f"apikey:{UUID}", f"user-{seq}",
                                  "10.0.0.1", "ab" * 16, data)
            digest = link(rt.master.audit_key, prev, fields)
            await conn.execute(text(
                "INSERT INTO audit_events (seq, at, type_code, tenant_code, actor_code, subject, ip, request_id, id,"
                " data, hash) VALUES (:seq, :at, 1, 3, 4, :subject, :ip, :rid, :id, :data, :hash)"),
                {"seq": seq, "at": to_micros(at), "subject": pack_text(f"user-{seq}"), "ip": pack_ip("10.0.0.1"),
                 "rid": pack_text("ab" * 16), "id": pack_text(event_id), "data": canonical_data(data).decode(),
                 "hash": bytes.fromhex(digest)})
            prev = digest


async def test_rows_written_under_0005_are_packed_and_still_verify(database_url: str) -> None:
    rt = Runtime(make_settings(database_url))
    datas: list[dict[str, object]] = [
        {"exp": 1_790_003_600, "jti": UUID, "sid": UUID, "via": "api_key"},
        {"ratio": 0.5, "nested": {"b": [1, None], "a": True}},  # a float: kept as JSON
        {}, {"big": 2**40, "name": "ü \"quoted\"", "id": UUID.upper()}]
    try:
        await _fresh(rt)
        await upgrade(rt.db, "0005_smart_directory")
        await _write_0005_rows(rt, datas)
        await upgrade(rt.db)
        assert await verify(rt) == (len(datas), [])
        async with rt.db.engine.connect() as conn:
            shapes = [r[0] for r in await conn.execute(text("SELECT shape_code FROM audit_events ORDER BY seq"))]
        assert shapes[0] is not None and shapes[1] is not None and shapes[2] is None and shapes[3] is not None
        page = await list_events(rt, TENANT, Filters(), limit=10)
        assert [e["data"] for e in page["events"]] == list(reversed(datas))
        rt.audit.record("exchange.issued", tenant_id=TENANT, actor=f"apikey:{UUID}", subject="after", jti=UUID)
        await rt.audit.flush()
        assert await verify(rt) == (len(datas) + 1, [])
        await downgrade(rt.db, "0005_smart_directory")
        await upgrade(rt.db)
        rt.audit.names.forget()
        assert await verify(rt) == (len(datas) + 1, [])
        subject_page = await list_events(rt, TENANT, Filters(subject="user-2"), limit=10)
        assert [e["seq"] for e in subject_page["events"]] == [2]
    finally:
        await rt.stop()
