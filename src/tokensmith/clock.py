"""Time as an injectable dependency: production uses the system clock, tests pass their own."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch (float)."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that tests move by hand, for expiry without sleeping."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def iso_z(ts: float | datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z`` suffix and whole seconds, as the wire contracts show."""
    if ts is None:
        return None
    if isinstance(ts, int | float):
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
    dt = ts if isinstance(ts, datetime) else utc(ts)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
