"""With Redis configured but unreachable, a client assertion's ``jti`` is still single-use: the store logs
the outage and records the use in the database instead (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import logging
import socket
import time

import pytest

from tests.support import make_settings
from tokensmith.bootstrap import initialise
from tokensmith.runtime import Runtime


def _closed_port() -> int:
    with socket.socket() as probe:  # bound, then closed: nothing listens there
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _uses(database_url: str) -> list[bool]:
    rt = Runtime(make_settings(database_url, redis_url=f"redis://127.0.0.1:{_closed_port()}/0"))
    await initialise(rt)
    try:
        expires = time.time() + 120
        return [await rt.assertion_jtis.first_use("client-a", "jti-1", expires),
                await rt.assertion_jtis.first_use("client-a", "jti-1", expires),
                await rt.assertion_jtis.first_use("client-b", "jti-1", expires)]
    finally:
        await rt.stop()


def test_an_unreachable_redis_leaves_each_jti_single_use(database_url: str,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="tokensmith.smart.jti"):
        uses = asyncio.run(_uses(database_url))
    assert uses == [True, False, True]  # the replay refused, another client's jti its own
    outages = [r.getMessage() for r in caplog.records if r.name == "tokensmith.smart.jti"]
    assert len(outages) == 3 and all(m.startswith("Redis unavailable for assertion jti") for m in outages)
