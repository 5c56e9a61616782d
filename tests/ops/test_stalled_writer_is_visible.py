"""A background writer that has had writes pending for longer than ``writer_stall_after`` without writing
them is visible: ``/readyz`` fails naming it, ``tokensmith_writer_stalled{writer=...}`` is 1, the log
says so once a minute, and ``audit verify``'s report counts the events recorded but not written. The
fault is real (the audit table renamed away under the writer); time is an injected clock."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from tests.support import make_settings
from tokensmith.audit.unwritten import unwritten_report
from tokensmith.bootstrap import initialise
from tokensmith.clock import ManualClock
from tokensmith.http.app import create_app
from tokensmith.runtime import Runtime

STALL_AFTER = 30.0


@pytest.fixture
async def rt(database_url: str) -> AsyncIterator[Runtime]:
    runtime = Runtime(make_settings(database_url, writer_stall_after=STALL_AFTER), clock=ManualClock())
    await initialise(runtime)
    await runtime.start(background=False)  # the test runs the writer's rounds itself
    try:
        yield runtime
    finally:
        await runtime.stop()


async def _rename(rt: Runtime, old: str, new: str) -> None:
    async with rt.db.session() as session:
        await session.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))


def _gauge(body: str, writer: str) -> float | None:
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == "tokensmith_writer_stalled" and sample.labels.get("writer") == writer:
                return sample.value
    return None


def _stall_logs(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "audit-flusher stalled" in r.getMessage()]


async def test_a_stalled_audit_writer_fails_readiness_sets_the_gauge_and_logs_once_a_minute(
    rt: Runtime, caplog: pytest.LogCaptureFixture,
) -> None:
    clock = rt.clock
    assert isinstance(clock, ManualClock)
    await rt.audit.flush()
    app = create_app(runtime=rt)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        assert (await http.get("/readyz")).json()["checks"]["writers"] == "ok"

        await _rename(rt, "audit_events", "audit_events_away")
        try:
            rt.audit.record("token.issued", subject="stuck")
            with caplog.at_level(logging.INFO, logger="tokensmith"):
                await rt.audit.run_round()  # fails: the writer starts waiting
                clock.advance(STALL_AFTER - 1)
                await rt.audit.run_round()
                assert (await http.get("/readyz")).status_code == 200  # not yet past the bound
                assert _gauge((await http.get("/metrics")).text, "audit-flusher") == 0

                clock.advance(2)
                await rt.audit.run_round()
                ready = await http.get("/readyz")
                assert ready.status_code == 503
                assert ready.json()["checks"]["writers"] == "stalled: audit-flusher"
                assert _gauge((await http.get("/metrics")).text, "audit-flusher") == 1
                assert len(_stall_logs(caplog)) == 1

                clock.advance(30)
                await rt.audit.run_round()
                assert len(_stall_logs(caplog)) == 1  # at most once a minute
                clock.advance(31)
                await rt.audit.run_round()
                assert len(_stall_logs(caplog)) == 2
                assert not any("stuck" in r.getMessage() for r in caplog.records)

            report = await _report_with_table_back(rt)
            assert report["overdue"] == 1 and report["missing"] == 1
        finally:
            await _rename(rt, "audit_events_away", "audit_events")

        await rt.audit.run_round()  # the table is back: written, no longer stalled
        assert rt.audit.pending == 0
        assert (await http.get("/readyz")).status_code == 200
        assert _gauge((await http.get("/metrics")).text, "audit-flusher") == 0
        assert (await unwritten_report(rt))["missing"] == 0


async def _report_with_table_back(rt: Runtime) -> dict[str, object]:
    """``audit verify``'s view while the writer is stuck (it needs the table to read which ids are in)."""
    await _rename(rt, "audit_events_away", "audit_events")
    try:
        return await unwritten_report(rt)
    finally:
        await _rename(rt, "audit_events", "audit_events_away")


async def test_a_writer_with_nothing_to_write_is_never_stalled(rt: Runtime) -> None:
    clock = rt.clock
    assert isinstance(clock, ManualClock)
    await rt.audit.run_round()
    clock.advance(STALL_AFTER * 10)
    await rt.audit.run_round()
    assert rt.stalled_writers() == []


async def test_the_exchange_user_writer_is_named_when_it_stalls(rt: Runtime) -> None:
    from tokensmith.exchange.request import SessionTokenRequest

    clock = rt.clock
    assert isinstance(clock, ManualClock)
    users = rt.exchange_users
    await _rename(rt, "exchange_users", "exchange_users_away")
    try:
        users.seen("t", SessionTokenRequest(
            user_id="u1", first_name="A", last_name="B", organisation="C"), clock.now())
        await users.run_round()
        clock.advance(STALL_AFTER + 1)
        await users.run_round()
        assert rt.stalled_writers() == ["exchange-users-flusher"]
    finally:
        await _rename(rt, "exchange_users_away", "exchange_users")
