"""A paced archive run (``audit_archive_rate``, ``--rate``) holds its rate by sleeping between small
batches, and -- paced, niced and with writers appending all along -- loses and duplicates nothing
(SQLite and PostgreSQL). The pacer's clock and sleep are injected: nothing here waits for real."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.audit.helpers import assert_nothing_lost_or_doubled, record, started, utc_micros
from tokensmith.audit.archive import archive
from tokensmith.audit.checkpoints import create_checkpoint
from tokensmith.audit.pacing import Pacer, Pacing, niced_executor
from tokensmith.clock import ManualClock
from tokensmith.runtime import Runtime


class FakeTime:
    """A monotonic clock that moves only when the pacer sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


@pytest.fixture
async def rt(database_url: str) -> AsyncIterator[Runtime]:
    runtime = await started(database_url)
    try:
        yield runtime
    finally:
        await runtime.stop()


async def test_the_pacer_sleeps_just_enough_to_hold_its_rate() -> None:
    fake = FakeTime()
    pacer = Pacer(1000, fake.monotonic, fake.sleep)
    for _ in range(5):
        await pacer.step(100)  # instant work: each batch of 100 must take 0.1 s
    assert fake.sleeps == pytest.approx([0.1] * 5)
    fake.now += 2.0  # slow work, behind schedule: no sleep until the budget is used up again
    await pacer.step(100)
    assert fake.sleeps[-1] == 0.0
    assert (pacer.done, pacer.slept) == (600, pytest.approx(0.5))


async def test_an_unpaced_pacer_never_sleeps_but_still_yields() -> None:
    fake = FakeTime()
    pacer = Pacer(0, fake.monotonic, fake.sleep)
    await pacer.step(10**6)
    assert fake.sleeps == [0.0]


def test_a_paced_batch_is_a_tenth_of_a_second_of_budget() -> None:
    assert Pacing(rate=5000).batch(20_000) == 500
    assert Pacing(rate=10).batch(20_000) == 100
    assert Pacing().batch(20_000) == 20_000


@pytest.mark.skipif(sys.platform != "linux", reason="threads have their own priority on Linux only")
def test_the_archivers_thread_runs_at_the_lower_priority() -> None:
    with niced_executor(7) as executor:
        nice = executor.submit(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id())).result()
    assert nice == max(7, os.getpriority(os.PRIO_PROCESS, 0))


async def test_a_paced_archive_under_concurrent_writes_loses_and_duplicates_nothing(rt: Runtime,
                                                                                 tmp_path: Path) -> None:
    await record(rt, 3000, "old")
    await create_checkpoint(rt)
    assert isinstance(rt.clock, ManualClock)
    rt.clock.advance(10)
    fake, stop, written = FakeTime(), asyncio.Event(), 0

    async def writer() -> None:
        nonlocal written
        while not stop.is_set():
            await record(rt, 20, f"new{written}-")
            written += 20
            await asyncio.sleep(0)

    task = asyncio.create_task(writer())
    pacing = Pacing(rate=2000, nice=5, monotonic=fake.monotonic, sleep=fake.sleep)
    result = await archive(rt, utc_micros(rt.clock.now()), tmp_path / "a.jsonl.gz", prune=True, pacing=pacing)
    stop.set()
    await task
    # 3,003 events read and as many pruned, 200 at a time, at 2,000 a second: ~1.5 s of sleep each way
    assert result.events == result.pruned == result.last_seq
    assert len(fake.sleeps) >= 2 * 15 and sum(fake.sleeps) == pytest.approx(2 * result.events / 2000, rel=0.1)
    assert written > 0
    await assert_nothing_lost_or_doubled(rt, tmp_path / "a.jsonl.gz", result.last_seq, written)
