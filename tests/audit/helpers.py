"""A runtime with signing keys and a clock the test moves, and ways to tamper with archives."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from tests.support import make_settings
from tokensmith.bootstrap import initialise
from tokensmith.clock import ManualClock
from tokensmith.runtime import Runtime
from tokensmith.storage.compact import to_micros, utc_micros

__all__ = ["record", "rewrite_archive", "started", "to_micros", "utc_micros"]


async def started(url: str, clock: ManualClock | None = None, **settings: Any) -> Runtime:
    rt = Runtime(make_settings(url, **settings), clock=clock or ManualClock(1_800_000_000.0))
    await initialise(rt)
    await rt.reload_keys()
    await rt.audit.flush()
    return rt


async def record(rt: Runtime, n: int, prefix: str = "e") -> None:
    for i in range(n):
        rt.audit.record("exchange.issued", tenant_id="3f0e2a1b-0000-4000-8000-000000000001",
                        actor="apikey:0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", subject=f"{prefix}{i}",
                        ip="10.0.0.1", request_id="ab" * 16, jti=f"jti-{prefix}{i}")
    await rt.audit.flush()


def rewrite_archive(path: Path, change: Callable[[list[dict[str, Any]]], None]) -> None:
    with gzip.open(path, "rb") as fh:
        lines = [orjson.loads(line) for line in fh]
    change(lines)
    with gzip.open(path, "wb") as fh:
        fh.write(b"".join(orjson.dumps(line) + b"\n" for line in lines))
