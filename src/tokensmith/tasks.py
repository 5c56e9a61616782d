"""Ending the service's background tasks.

Every long-running loop (flushers, the Redis follower, checkpoints, retention, the console's refresher) is
stopped the same way: cancelled, then awaited so that its ``finally`` blocks have run before the caller goes
on to close what the task used. Its ``CancelledError`` is the expected end, not a failure; any other exception
it raises while ending still propagates.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def cancel_and_wait(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel every task given (None stands for "never started"), then wait for each to end."""
    started = [task for task in tasks if task is not None]
    for task in started:
        task.cancel()
    for task in started:
        with contextlib.suppress(asyncio.CancelledError):
            await task
