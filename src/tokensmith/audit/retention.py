"""The audit log's schedule: a signed checkpoint every ``audit_checkpoint_interval`` seconds, and -- with
``audit_retention_days`` -- archiving and pruning of the events older than that, up to the newest
checkpoint before that age. Time comes from the runtime's clock, so tests move it by hand.

Several processes may run the schedule: a checkpoint is skipped while a recent one exists, and an archive
file is created exclusively (its name is its seq range), so two processes never write or prune the same
events twice.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tokensmith.audit.archive import ArchiveResult, archive
from tokensmith.audit.checkpoints import checkpoint_events, create_checkpoint
from tokensmith.audit.pacing import Pacing
from tokensmith.audit.store import head
from tokensmith.errors import InvalidRequest
from tokensmith.storage.compact import utc_micros
from tokensmith.storage.db import is_outage
from tokensmith.tasks import cancel_and_wait

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

log = logging.getLogger("tokensmith.audit")
POLL_SECONDS = 30.0


def archive_dir(settings: Any) -> Path:
    if settings.audit_archive_dir:
        return Path(settings.audit_archive_dir)
    db_path = settings.sqlite_path()
    return (db_path.parent if db_path else Path.cwd()) / "audit-archive"


class AuditSchedule:
    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        s = self._rt.settings
        return bool(s.audit_checkpoint_interval or s.audit_retention_days)

    async def tick(self) -> tuple[bool, ArchiveResult | None]:
        """One round: (checkpoint made?, archive written)."""
        made = await self._checkpoint_if_due()
        return made, await self._archive_if_due()

    async def _checkpoint_if_due(self) -> bool:
        interval = self._rt.settings.audit_checkpoint_interval
        if not interval:
            return False
        now_us = utc_micros(self._rt.clock.now())
        newest = await checkpoint_events(self._rt, limit=1)
        current = await head(self._rt.db)
        if current is None or (newest and (newest[0][0] == current[0]
                                           or now_us - newest[0][1] < interval * 1_000_000)):
            return False  # nothing new since the last checkpoint, or it is recent
        return await create_checkpoint(self._rt) is not None

    async def _archive_if_due(self) -> ArchiveResult | None:
        days = self._rt.settings.audit_retention_days
        if not days:
            return None
        cutoff = utc_micros(self._rt.clock.now() - days * 86400)
        folder = archive_dir(self._rt.settings)
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        try:
            s = self._rt.settings
            result = await archive(self._rt, cutoff, folder, prune=True,
                                   pacing=Pacing(rate=s.audit_archive_rate, nice=s.audit_archive_nice))
        except InvalidRequest as exc:  # nothing old enough, already pruned, or another process at it
            log.debug("audit retention: nothing archived: %s", exc.description)
            return None
        log.info("audit retention: seq %d..%d archived to %s and pruned", result.first_seq, result.last_seq,
                 result.path)
        return result

    def start(self) -> None:
        if self.enabled and self._task is None:
            self._task = asyncio.create_task(self._run(), name="audit-schedule")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        interval = self._rt.settings.audit_checkpoint_interval or POLL_SECONDS
        while True:
            await asyncio.sleep(min(interval, POLL_SECONDS))
            try:
                await self.tick()
            except Exception as exc:
                if not is_outage(exc):
                    log.exception("audit schedule failed")
