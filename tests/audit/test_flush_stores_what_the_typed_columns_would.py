"""The batch insert packs its values itself (no per-value bind processors, for speed): what it stores must be
byte for byte what the typed ``AuditEvent`` columns store, and ``pack_text``'s fixed-length UUID split must
give the same kinds as the lazy-prefix pattern it replaced (SQLite and PostgreSQL)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from tests.audit.helpers import started
from tokensmith.storage.compact import pack_ip, pack_text, to_micros, unpack_text
from tokensmith.storage.models import AuditEvent

UUID = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
_OLD_UUID_TAIL = re.compile(r"(.*?)([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\Z", re.S)


def _old_pack_text(value: str) -> bytes:
    match = _OLD_UUID_TAIL.match(value)
    if match is not None:
        return bytes([1]) + match.group(1).encode() + bytes.fromhex(match.group(2).replace("-", ""))
    if re.match(r"(?:[0-9a-f]{2})+\Z", value):
        return bytes([2]) + bytes.fromhex(value)
    return bytes([0]) + value.encode()


@settings(max_examples=400, deadline=None)
@given(prefix=st.text(max_size=12), tail=st.one_of(st.just(UUID), st.just(UUID.upper()), st.text(max_size=40),
                                                   st.just(UUID[:-1]), st.just("ab" * 16), st.just(UUID + "\n")))
def test_pack_text_packs_as_the_lazy_pattern_did(prefix: str, tail: str) -> None:
    value = prefix + tail
    assert pack_text(value) == _old_pack_text(value)
    assert unpack_text(pack_text(value)) == value


async def test_flushed_rows_hold_the_typed_columns_bytes(database_url: str) -> None:
    rt = await started(database_url)
    rt.audit.record("token.issued", tenant_id="3f0e2a1b-0000-4000-8000-000000000001", actor="cli_a",
                    subject=f"apikey:{UUID}", ip="10.0.0.7", request_id="ab" * 16, scope="read write")
    rt.audit.record("token.issued", subject="plain subject", ip="not an address")
    rt.audit.record("login.failed")  # every optional column empty
    assert await rt.audit.flush() == 3
    async with rt.db.sessions() as session:
        stored = (await session.execute(text(
            "SELECT id, at, subject, ip, request_id, hash FROM audit_events ORDER BY seq DESC LIMIT 3"))).all()
        events = list((await session.execute(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(3))).scalars())
    for row, event in zip(stored, events, strict=True):
        assert bytes(row.id) == pack_text(event.id)
        assert row.at == to_micros(event.at)
        assert (None if row.subject is None else bytes(row.subject)) == (
            None if event.subject is None else pack_text(event.subject))
        assert (None if row.ip is None else bytes(row.ip)) == (None if event.ip is None else pack_ip(event.ip))
        assert (None if row.request_id is None else bytes(row.request_id)) == (
            None if event.request_id is None else pack_text(event.request_id))
        assert bytes(row.hash) == bytes.fromhex(event.hash)
    assert [e.subject for e in events] == [None, "plain subject", f"apikey:{UUID}"]
    assert events[2].ip == "10.0.0.7" and events[2].request_id == "ab" * 16 and events[2].data["scope"] == "read write"
    await rt.db.dispose()


async def test_repeated_and_long_data_read_back_as_recorded(database_url: str) -> None:
    """The writer caches the packing of short ``data`` (it repeats exactly for a client's tokens): the cached
    result must serve every event, and a long ``data`` (not cached) must pack the same way."""
    rt = await started(database_url)
    same = {"grant": "client_credentials", "format": "jwt", "scope": "read write"}
    long = {"grant": "client_credentials", "format": "jwt", "scope": " ".join(f"scope{i}" for i in range(60))}
    for data in (same, same, long, long):
        rt.audit.record("token.issued", subject="s", **data)
    assert await rt.audit.flush() == 4
    async with rt.db.sessions() as session:
        events = list((await session.execute(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(4))).scalars())
    assert [e.data for e in reversed(events)] == [same, same, long, long]
    assert events[0].shape is not None and events[0].shape == events[1].shape  # both packed by the same shape
    await rt.db.dispose()
