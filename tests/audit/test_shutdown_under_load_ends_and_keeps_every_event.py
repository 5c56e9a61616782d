"""A shutdown under load — the audit log is then in the middle of a batch almost always (it writes five
times a second) — lets the batch finish, writes the rest and ends, with an event for every token handed out.

Before, ``stop()`` cancelled each writer's task wherever it was; on SQLite a batch cancelled inside a
database call could leave SQLite's write lock held, and the final flush then waited for it: 15 s in one
stop of ten here, for ever in a longer load run (the process never finished shutting down)."""

from __future__ import annotations

import asyncio
import time

import httpx
from sqlalchemy import func, select

from tests.support import make_settings
from tokensmith.bootstrap import initialise
from tokensmith.clients import create_client
from tokensmith.http.app import create_app
from tokensmith.runtime import Runtime
from tokensmith.storage.models import AuditEvent

ROUNDS = 5
LOAD_SECONDS = 1.0
STOP_WITHIN = 5.0  # a batch and the final flush take well under a second


async def _issue_for(http: httpx.AsyncClient, client_id: str, secret: str, seconds: float) -> int:
    issued = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        reply = await http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
        assert reply.status_code == 200, reply.text
        issued += 1
    return issued


async def _token_events(url: str) -> int:
    probe = Runtime(make_settings(url))
    try:
        type_code = await probe.audit.names.code_of("token.issued")
        if type_code is None:
            return 0
        async with probe.db.sessions() as session:
            return int((await session.execute(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.type_code == type_code))).scalar_one())
    finally:
        await probe.stop()


async def test_stopping_under_load_ends_and_records_every_token(database_url: str) -> None:
    issued = 0
    for attempt in range(ROUNDS):
        rt = Runtime(make_settings(database_url, audit_flush_interval=0.2))
        app = create_app(runtime=rt)
        tenant_id = (await initialise(rt))["tenant_id"]
        client, secret = await create_client(rt, tenant_id=tenant_id, name=f"load-{attempt}", scopes=["Patient.read"])
        await rt.start()
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
            async with httpx.AsyncClient(transport=transport, base_url="http://tokensmith.test") as http:
                counts = await asyncio.gather(*(_issue_for(http, client.client_id, secret or "", LOAD_SECONDS)
                                                for _ in range(32)))
        issued += sum(counts)
        started = time.monotonic()
        await asyncio.wait_for(rt.stop(), timeout=60)
        took = time.monotonic() - started
        assert took < STOP_WITHIN, f"round {attempt}: stopping took {took:.1f} s"
        assert await _token_events(database_url) == issued, f"round {attempt}"
