"""A flush writes the events queued when it began; events recorded while its batch is being written wait
for the next round. Before, the flush looped "while anything is pending", so on a busy server it never
ended: batch after small batch, holding SQLite's write turn (or the chain's lock on PostgreSQL) nearly all
the time, and sign-in refreshes waited a median 23 ms for the turn (docs/benchmarks.md, sixth session)."""

from __future__ import annotations

from typing import Any

from tests.support import make_settings
from tokensmith.audit.operations import verify
from tokensmith.runtime import Runtime
from tokensmith.storage.migrate import upgrade


async def test_events_recorded_during_a_flush_wait_for_the_next_one(database_url: str) -> None:
    rt = Runtime(make_settings(database_url))
    await upgrade(rt.db)
    try:
        for i in range(5):
            rt.audit.record("token.issued", actor="client-a", subject=f"before-{i}", grant="test")
        write = rt.audit._write_with_retry
        arrivals = iter(range(3))

        async def write_while_requests_arrive(batch: list[Any]) -> int:
            for i in arrivals:  # requests answered while the batch is on its way to the database
                rt.audit.record("token.issued", actor="client-a", subject=f"during-{i}", grant="test")
            return await write(batch)

        rt.audit._write_with_retry = write_while_requests_arrive  # type: ignore[method-assign]
        assert await rt.audit.flush() == 5
        assert rt.audit.pending == 3  # left for the next round
        rt.audit._write_with_retry = write  # type: ignore[method-assign]
        assert await rt.audit.flush() == 3
        assert rt.audit.pending == 0
        count, problems = await verify(rt)
        assert problems == [] and count == 8
    finally:
        await rt.stop()
