"""``lastUsedAt`` without a database write per request: uses are noted in memory and written in one
batch every ``api_key_usage_flush_interval`` seconds (a timestamp only moves forward, so instances that
flush in any order agree)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, or_, update

from tokensmith.storage.flusher import PeriodicFlusher
from tokensmith.storage.models import ApiKey
from tokensmith.storage.setaside import data_error_reason, write_setting_aside

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

log = logging.getLogger("tokensmith.apikeys")
_TABLE = ApiKey.__table__
_UPDATE = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("key_id"))
    .where(or_(_TABLE.c.last_used_at.is_(None), _TABLE.c.last_used_at < bindparam("used_at")))
    .values(last_used_at=bindparam("used_at"))
)
MAX_PENDING = 100_000


class UsageRecorder(PeriodicFlusher):
    flusher_name = "apikey-usage-flusher"
    flusher_log = log

    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime
        self._pending: dict[str, float] = {}
        self._lock = asyncio.Lock()
        runtime.add_writer(self)

    @property
    def flush_interval(self) -> float:
        return float(self._rt.settings.api_key_usage_flush_interval)

    def touch(self, key_id: str, at: float) -> None:
        if len(self._pending) >= MAX_PENDING and key_id not in self._pending:
            return  # a flood of distinct keys while the database is away: lastUsedAt is best effort
        self._pending[key_id] = at

    def pending(self, key_id: str) -> float | None:
        return self._pending.get(key_id)

    @property
    def has_pending(self) -> bool:
        return bool(self._pending)

    async def flush(self) -> int:
        async with self._lock:
            if not self._pending:
                return 0
            batch, self._pending = self._pending, {}
            rows = [{"key_id": k, "used_at": datetime.fromtimestamp(v, UTC)} for k, v in batch.items()]
            try:
                return await write_setting_aside(rows, self._write, self._set_aside)
            except BaseException:
                for key_id, at in batch.items():  # keep them for the next attempt
                    self._pending.setdefault(key_id, at)
                raise

    async def _write(self, rows: list[dict[str, Any]]) -> int:
        async with self._rt.db.write_session() as session:
            await session.execute(_UPDATE, rows)
        return len(rows)

    async def _set_aside(self, row: dict[str, Any], exc: BaseException) -> int:
        self.health.dead_letter("lastUsedAt update", data_error_reason(exc))
        return 0

