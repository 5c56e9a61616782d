"""A CLI command runs on the same runtime as ``serve``: its write-behind flushers (audit events, API keys'
``lastUsedAt``, users seen by the session exchange) run while it works and are drained before it exits,
on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import select

from tests.cli.helpers import Cli, seed
from tests.support import make_settings
from tokensmith.apikeys.management import create_api_key
from tokensmith.bootstrap import initialise
from tokensmith.cli.common import run_once
from tokensmith.exchange.request import SessionTokenRequest
from tokensmith.runtime import Runtime
from tokensmith.storage.models import ApiKey, AuditEvent, ExchangeUser

USER = SessionTokenRequest(user_id="doctor123", first_name="doctor", last_name="123", organisation="practice")


async def _stored(url: str) -> tuple[list[ApiKey], list[ExchangeUser], list[str]]:
    rt = Runtime(make_settings(url))
    try:
        async with rt.db.sessions() as session:
            keys = list((await session.execute(select(ApiKey))).scalars())
            users = list((await session.execute(select(ExchangeUser))).scalars())
            events = list((await session.execute(select(AuditEvent.type).select_from(AuditEvent))).scalars())
        return keys, users, events
    finally:
        await rt.stop()


async def test_a_command_writes_usage_users_and_audit_before_it_exits(database_url: str) -> None:
    settings = make_settings(database_url, api_key_usage_flush_interval=3600, exchange_user_flush_interval=3600,
                             audit_flush_interval=3600)
    tenant_id = (await run_once(initialise, migrate=False, start=False, settings=settings))["tenant_id"]

    async def work(rt: Runtime) -> str:
        record, _ = await create_api_key(rt, tenant_id=tenant_id, name="cli", scopes=[], actor="cli")
        await rt.apikeys.consume(record)  # lastUsedAt, queued
        token = await rt.exchange.issue(record, USER)  # the user seen and the audit event, queued
        return token.jti

    jti = await run_once(work, settings=settings)
    keys, users, events = await _stored(database_url)
    assert [k.last_used_at is not None for k in keys] == [True]
    assert [(u.tenant_id, u.user_id) for u in users] == [(tenant_id, "doctor123")]
    assert "apikey.created" in events and "exchange.issued" in events and jti


async def test_a_long_command_writes_audit_events_while_it_runs(database_url: str) -> None:
    settings = make_settings(database_url, audit_flush_interval=0.05)
    await run_once(initialise, migrate=False, start=False, settings=settings)

    async def work(rt: Runtime) -> bool:
        rt.audit.record("test.long_command", actor="cli")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the flusher runs on its own interval: wait for it, do not flush
            async with rt.db.sessions() as session:
                if (await session.execute(select(AuditEvent.id).where(AuditEvent.type == "test.long_command"))
                        ).first() is not None:
                    return True
            await asyncio.sleep(0.05)
        return False

    assert await run_once(work, settings=settings) is True


def test_the_real_command_leaves_its_audit_event(cli: Cli) -> None:
    seed(cli)
    cli("users", "block", "u-1", "--tenant", "default", "--notes", "left the practice")
    _, users, events = asyncio.run(_stored(cli.env["TOKENSMITH_DATABASE_URL"]))
    assert [(u.user_id, u.blocked) for u in users] == [("u-1", True)]
    assert "exchange_user.blocked" in events
