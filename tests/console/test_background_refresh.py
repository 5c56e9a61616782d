"""The console's background refresher: one computation per key at a time, a failure logged and retried by
the next start, and everything still running cancelled when the app stops (nothing left to touch a
closed database)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tokensmith.console.background import Refresher


def test_one_computation_per_key_at_a_time() -> None:
    async def scenario() -> tuple[int, int]:
        refresher, gate, runs = Refresher(), asyncio.Event(), {"a": 0, "b": 0}

        async def work(key: str) -> None:
            runs[key] += 1
            await gate.wait()

        for _ in range(3):
            refresher.start("a", lambda: work("a"))
        refresher.start("b", lambda: work("b"))
        await asyncio.sleep(0)
        assert refresher.running("a") and refresher.running("b")
        gate.set()
        await refresher.wait()
        assert not refresher.running("a")
        refresher.start("a", lambda: work("a"))  # done: the next start runs again
        await refresher.wait("a")
        return runs["a"], runs["b"]

    assert asyncio.run(scenario()) == (2, 1)


def test_a_failure_is_logged_without_its_message_and_the_next_start_tries_again(
        caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> int:
        refresher, attempts = Refresher(), [0]

        async def flaky() -> None:
            attempts[0] += 1
            if attempts[0] == 1:
                raise ConnectionError("postgres://secret@db")

        refresher.start("activity:t1", flaky)
        await refresher.wait()
        refresher.start("activity:t1", flaky)
        await refresher.wait()
        return attempts[0]

    with caplog.at_level(logging.WARNING, logger="tokensmith.console"):
        assert asyncio.run(scenario()) == 2
    [record] = caplog.records
    assert "activity" in record.getMessage() and "ConnectionError" in record.getMessage()
    assert "secret" not in record.getMessage() and "t1" not in record.getMessage()


def test_stop_cancels_what_runs_and_refuses_new_work() -> None:
    async def scenario() -> tuple[bool, bool, int]:
        refresher, started, finished = Refresher(), asyncio.Event(), [0]

        async def forever() -> None:
            started.set()
            await asyncio.Event().wait()
            finished[0] += 1

        refresher.start("chain", forever)
        await started.wait()
        await refresher.stop()
        refresher.start("chain", forever)
        return refresher.running("chain"), started.is_set(), finished[0]

    assert asyncio.run(scenario()) == (False, True, 0)
