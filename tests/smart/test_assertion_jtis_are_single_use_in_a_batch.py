"""The database store of assertion ``jti`` values groups concurrent first uses into one statement: among
many assertions presented at once, every distinct one is accepted exactly once and every repeat -- in the
same batch, or of a jti stored by an earlier batch -- is refused, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import func, select

from tests.support import make_settings
from tokensmith.bootstrap import initialise
from tokensmith.runtime import Runtime
from tokensmith.storage.models import ClientAssertionJti


async def _uses(database_url: str, pairs: list[tuple[str, str]]) -> tuple[list[bool], list[bool], int]:
    rt = Runtime(make_settings(database_url))
    await initialise(rt)
    try:
        expires = time.time() + 120
        first = await asyncio.gather(*(rt.assertion_jtis.first_use(c, j, expires) for c, j in pairs))
        again = await asyncio.gather(*(rt.assertion_jtis.first_use(c, j, expires) for c, j in pairs[:5]))
        async with rt.db.session() as session:
            stored = (await session.execute(select(func.count()).select_from(ClientAssertionJti))).scalar_one()
        return list(first), list(again), int(stored)
    finally:
        await rt.stop()


def test_concurrent_uses_accept_each_jti_once(database_url: str) -> None:
    distinct = [(f"client-{i % 3}", f"jti-{i}") for i in range(60)]
    repeated = [("client-0", "same")] * 20
    first, again, stored = asyncio.run(_uses(database_url, distinct + repeated))
    assert first[:60] == [True] * 60
    assert first[60:].count(True) == 1 and first[60:].count(False) == 19
    assert again == [False] * 5  # stored by the first batch: a replay on a later one
    assert stored == 61


def test_the_same_jti_of_two_clients_is_two_uses(database_url: str) -> None:
    first, _again, stored = asyncio.run(_uses(database_url, [("a", "x"), ("b", "x"), ("a", "x")]))
    assert first == [True, True, False]
    assert stored == 2
