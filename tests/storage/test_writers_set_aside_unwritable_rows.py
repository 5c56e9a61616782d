"""One row the database refuses (a NUL in a text on PostgreSQL, a value longer than its column, an integer
or string the encoders refuse) must not stop a background writer: the row is set aside — the audit log
stores a sanitised, marked copy in its place, the other writers drop it — counted and logged without
its values, and every other row is written. The rows are queued straight into the writers, bypassing
the HTTP edge (which refuses such input by itself)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from tests.support import make_settings
from tokensmith.audit.operations import verify
from tokensmith.audit.unwritten import unwritten_report
from tokensmith.bootstrap import initialise
from tokensmith.exchange.request import SessionTokenRequest
from tokensmith.exchange.users import list_exchange_users
from tokensmith.runtime import Runtime
from tokensmith.storage.models import ApiKey, AuditEvent

NUL_VALUE = "nul-value-4d1f\x00tail"


@pytest.fixture
async def rt(database_url: str) -> AsyncIterator[Runtime]:
    runtime = Runtime(make_settings(database_url))
    await initialise(runtime)
    await runtime.start(background=False)
    try:
        yield runtime
    finally:
        await runtime.stop()


def _dead_letters(rt: Runtime, writer: str) -> float:
    return float(rt.metrics.child(rt.metrics.dead_letters, writer)._value.get())


async def _events(rt: Runtime) -> list[AuditEvent]:
    async with rt.db.sessions() as session:
        return list((await session.execute(select(AuditEvent).order_by(AuditEvent.seq))).scalars())


@pytest.mark.postgres
async def test_an_audit_event_with_a_nul_is_stored_losslessly_and_later_events_are_written(
    postgres_url: str, caplog: pytest.LogCaptureFixture,
) -> None:
    rt = Runtime(make_settings(postgres_url))
    await rt.start(background=False)
    try:
        await rt.audit.flush()
        before = len(await _events(rt))
        rt.audit.record("exchange.issued", subject="before")
        # the ip column is plain text on every schema: a NUL there is refused by PostgreSQL
        rt.audit.record("exchange.issued", subject=NUL_VALUE, actor="a" * 300, ip="10.0.0.1\x00",
                        organisation=NUL_VALUE)
        for i in range(5):
            rt.audit.record("login.succeeded", subject=f"after-{i}")
        with caplog.at_level(logging.INFO, logger="tokensmith"):
            assert await rt.audit.flush() == 7
        assert rt.audit.pending == 0

        events = (await _events(rt))[before:]
        assert [e.subject for e in events][:1] == ["before"]
        assert [e.subject for e in events][2:] == [f"after-{i}" for i in range(5)]
        stand_in = events[1]
        assert stand_in.type == "exchange.issued" and "_sanitised" not in stand_in.data
        assert stand_in.ip == "10.0.0.1\x00" and stand_in.subject == NUL_VALUE and stand_in.actor == "a" * 200
        assert [e.seq for e in events] == list(range(events[0].seq, events[0].seq + 7))  # no hole

        assert await verify(rt) == (before + 7, [])
        report = await unwritten_report(rt)
        assert report["sanitised"] == 0 and report["missing"] == 0
        assert _dead_letters(rt, "audit-flusher") == 0
        assert not [r for r in caplog.records if "set aside" in r.getMessage()]
        assert not any("nul-value-4d1f" in r.getMessage() for r in caplog.records)
    finally:
        await rt.stop()


async def test_values_the_encoders_refuse_do_not_stop_the_audit_log(rt: Runtime) -> None:
    """A lone surrogate (valid JSON escape, not encodable as UTF-8) and an integer beyond 64 bits: on
    both databases the encoders fail before the statement is sent."""
    await rt.audit.flush()
    before = len(await _events(rt))
    rt.audit.record("token.issued", subject="lone-\ud800-surrogate")
    rt.audit.record("token.issued", subject="fine", huge=2**70)
    rt.audit.record("token.issued", subject="last")
    assert await rt.audit.flush() == 3
    events = (await _events(rt))[before:]
    assert [e.subject for e in events] == ["lone-?-surrogate", "fine", "last"]
    assert events[1].data["huge"] == str(2**70) and events[1].data["_sanitised"]
    assert await verify(rt) == (before + 3, [])
    assert _dead_letters(rt, "audit-flusher") == 2


@pytest.mark.postgres
async def test_an_exchange_user_with_a_nul_is_set_aside_and_the_others_are_recorded(
    postgres_url: str, caplog: pytest.LogCaptureFixture,
) -> None:
    rt = Runtime(make_settings(postgres_url))
    tenant_id = (await initialise(rt))["tenant_id"]
    await rt.start(background=False)
    users = rt.exchange_users
    now = rt.clock.now()
    try:
        def user(user_id: str, first_name: str = "Ann") -> SessionTokenRequest:
            # model_construct: no validation, as if the edge had let it through
            return SessionTokenRequest.model_construct(user_id=user_id, first_name=first_name, last_name="X",
                                                       organisation="Clinic", email=None,
                                                       healthcare_provider_identification_number=None,
                                                       healthcare_provider_type=None)

        users.seen(tenant_id, user("good-1"), now)
        users.seen(tenant_id, user("bad-1", first_name=NUL_VALUE), now)
        users.seen(tenant_id, user("bad\x00id"), now)
        users.seen(tenant_id, user("good-2"), now)
        with caplog.at_level(logging.INFO, logger="tokensmith"):
            assert await users.flush() == 2
            users.seen(tenant_id, user("bad-1", first_name=NUL_VALUE), now + 1)  # seen again: not logged again
            users.seen(tenant_id, user("good-3"), now + 1)
            assert await users.flush() == 1
        listed = await list_exchange_users(rt, tenant_id)
        assert sorted(u["userId"] for u in listed) == ["good-1", "good-2", "good-3"]
        assert _dead_letters(rt, "exchange-users-flusher") == 2
        logged = [r.getMessage() for r in caplog.records if "set aside" in r.getMessage()]
        assert len(logged) == 2 and all("exchange user" in m and "sqlstate 22021" in m for m in logged)
        assert not any("nul-value" in r.getMessage() or "bad" in r.getMessage() for r in caplog.records)
    finally:
        await rt.stop()


@pytest.mark.postgres
async def test_an_unwritable_api_key_usage_is_set_aside_and_the_others_are_written(postgres_url: str) -> None:
    from tokensmith.apikeys.management import create_api_key

    rt = Runtime(make_settings(postgres_url))
    tenant_id = (await initialise(rt))["tenant_id"]
    await rt.start(background=False)
    try:
        record, _ = await create_api_key(rt, tenant_id=tenant_id, name="k", scopes=["Patient.read"])
        usage = rt.apikeys.usage
        at = rt.clock.now()
        usage.touch("no\x00such-key", at)
        usage.touch(record.id, at)
        assert await usage.flush() == 1
        async with rt.db.sessions() as session:
            used = (await session.execute(select(ApiKey.last_used_at).where(ApiKey.id == record.id))).scalar_one()
        assert used is not None and abs(used.timestamp() - datetime.fromtimestamp(at, UTC).timestamp()) < 1e-3
        assert _dead_letters(rt, "apikey-usage-flusher") == 1
        assert not usage.has_pending
    finally:
        await rt.stop()
