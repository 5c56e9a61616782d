"""Audit events recorded while the database is down stay queued and are written, once, when it is back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import select

from tests.support import TcpProxy, make_settings
from tokensmith.audit.operations import verify
from tokensmith.runtime import Runtime
from tokensmith.storage.migrate import upgrade
from tokensmith.storage.models import AuditEvent


async def _subjects(rt: Runtime) -> list[str]:
    async with rt.db.sessions() as session:
        return list((await session.execute(select(AuditEvent.subject).order_by(AuditEvent.seq))).scalars())


async def _until(check: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.mark.postgres
async def test_events_recorded_during_an_outage_are_written_when_the_database_is_back(
    pg_proxy: tuple[TcpProxy, str],
) -> None:
    proxy, url = pg_proxy
    rt = Runtime(make_settings(url, audit_flush_interval=0.05))
    await upgrade(rt.db)
    await rt.start()
    try:
        rt.audit.record("client.created", subject="before")
        await _until(lambda: _done(rt))

        proxy.cut()
        for i in range(5):
            rt.audit.record("token.issued", subject=f"during-{i}")
        await asyncio.sleep(0.5)  # several flush attempts fail meanwhile
        assert rt.audit.pending == 5

        proxy.restore()
        await _until(lambda: _done(rt))
        assert await _subjects(rt) == ["before"] + [f"during-{i}" for i in range(5)]
        count, problems = await verify(rt)
        assert (count, problems) == (6, [])
    finally:
        await rt.stop()


async def _done(rt: Runtime) -> bool:
    return rt.audit.pending == 0


async def test_a_batch_whose_commit_acknowledgement_was_lost_is_not_written_twice(database_url: str) -> None:
    """The connection can die after the database committed but before it said so; the writer then does
    not know whether the batch is in. Retrying must neither duplicate events nor wedge the queue."""
    rt = Runtime(make_settings(database_url))
    await upgrade(rt.db)
    real_session = rt.db.session
    failures = [1]

    @asynccontextmanager
    async def session_losing_the_ack() -> AsyncIterator[Any]:
        async with real_session() as session:
            yield session
        if failures[0]:
            failures[0] -= 1
            raise ConnectionResetError("connection lost after COMMIT was sent")

    try:
        rt.audit.record("client.created", subject="first")
        rt.audit.record("client.created", subject="second")
        rt.db.session = session_losing_the_ack  # type: ignore[method-assign]
        with pytest.raises(ConnectionResetError):
            await rt.audit.flush()
        assert rt.audit.pending == 2  # the writer cannot know the batch is in

        rt.audit.record("client.created", subject="third")
        assert await rt.audit.flush() >= 1
        assert rt.audit.pending == 0
        assert await _subjects(rt) == ["first", "second", "third"]
        count, problems = await verify(rt)
        assert (count, problems) == (3, [])
    finally:
        rt.db.session = real_session  # type: ignore[method-assign]
        await rt.stop()
