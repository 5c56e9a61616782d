"""The revocation feed over HTTP, for resource-server guards (``GET /revocations/feed``): a long poll on the
durable ``revocations`` table with a cursor that survives concurrent transactions committing out of id
order.

The cursor is ``<since_ms>.<digest>``: the start of the read window (:func:`tokensmith.revocation.view.
window_start` of the previous read) and a digest of the ids the window held then. A request returns at once
when the window now holds a different set of rows (a row committed since, even one with a smaller id than
rows already delivered), else it waits for this process's own feed to apply something (a Redis message or
its database poll) or until ``wait`` seconds have passed. Entries can be delivered more than once; the
reader drops the ids it has applied (:class:`tokensmith.revocation.view.SeenRows`). Wire format:
``docs/guard.md``.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tokensmith.errors import InvalidRequest
from tokensmith.revocation.feed import live_rows, rows_since
from tokensmith.revocation.view import window_start
from tokensmith.storage.models import Revocation

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

#: the longest a long poll may wait (s): below common proxy idle timeouts
MAX_WAIT = 30.0
#: a waiting request reads the table again at least this often (s), whatever its process's feed says
_REREAD = 1.0
_CURSOR = re.compile(r"^(\d{1,15})\.([0-9a-f]{16})$")


@dataclass(frozen=True, slots=True)
class Cursor:
    since_ms: int
    digest: str

    def encode(self) -> str:
        return f"{self.since_ms}.{self.digest}"

    @property
    def since(self) -> datetime:
        return datetime.fromtimestamp(self.since_ms / 1000, UTC)


def parse_cursor(value: str | None) -> Cursor | None:
    """None for no cursor (the first read: every live entry); :class:`InvalidRequest` for a bad one."""
    if value is None or value == "":
        return None
    match = _CURSOR.match(value)
    if match is None:
        raise InvalidRequest("after must be a cursor returned by this feed")
    return Cursor(int(match.group(1)), match.group(2))


def _digest(rows: list[Revocation]) -> str:
    ids = ",".join(str(row.id) for row in sorted(rows, key=lambda r: r.id))
    return hashlib.blake2b(ids.encode(), digest_size=8).hexdigest()


def entry(row: Revocation) -> dict[str, Any]:
    return {"id": row.id, "kind": row.kind, "value": row.value, "not_before_ms": row.not_before_ms,
            "expires_at": row.expires_at.timestamp() if row.expires_at else None,
            "created_at": row.created_at.timestamp()}


def _next_cursor(rows: list[Revocation], read_at: datetime) -> Cursor:
    since = window_start(read_at)
    return Cursor(int(since.timestamp() * 1000), _digest([r for r in rows if r.created_at >= since]))


async def read_page(rt: Runtime, cursor: Cursor | None, wait: float,
                    gone: Callable[[], Awaitable[bool]] | None = None) -> dict[str, Any]:
    """One response of the feed: ``{"entries": [...], "cursor": "..."}``. ``gone``: true once the caller has
    disconnected (a waiting poll then ends early instead of holding a task for nobody)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(0.0, min(wait, MAX_WAIT))
    feed = rt.revocations
    while True:
        applied = feed.applied
        read_at = datetime.fromtimestamp(rt.clock.now(), UTC)
        async with rt.db.session() as session:
            if cursor is None:
                live = await live_rows(session, read_at)
                window = await rows_since(session, window_start(read_at))
                return {"entries": [entry(r) for r in live], "cursor": _next_cursor(window, read_at).encode()}
            since = min(cursor.since, window_start(read_at))
            rows = await rows_since(session, since)
        current = [r for r in rows if r.created_at >= cursor.since]
        changed = _digest(current) != cursor.digest
        remaining = deadline - loop.time()
        if changed or remaining <= 0 or (gone is not None and await gone()):
            return {"entries": [entry(r) for r in current] if changed else [],
                    "cursor": _next_cursor(rows, read_at).encode()}
        await feed.wait_for_news(applied, min(remaining, _REREAD))
