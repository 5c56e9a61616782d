"""The crash spool: every audit event is appended to a local file before the response that caused it
leaves, so that a ``kill -9`` (or a crash, or an OOM kill) between the response and the next batch
write loses nothing.

Durability chosen: one ``write()`` system call per event, no ``fsync``. Once ``write()`` returns the
bytes are in the kernel's page cache, which survives the death of the process (the case this guards
against); a power loss or kernel crash in the following seconds can still lose them, as it can lose
the database's own unsynchronised pages. An ``fsync`` per request would cost a disk flush per token.

Layout, in ``audit_spool_dir``/<database fingerprint>/:

* ``owner-<owner>.lock`` — held with ``flock`` for the life of the process that writes the segments
  ``audit-<owner>-<n>.spool`` (JSON lines, one event each). The active segment is switched at each
  batch write; a segment is deleted once every event in it is committed.
* At start-up a serving process adopts the segments of every owner whose lock it can take (that owner
  is dead), queues their events first and deletes the segments once written. Events carry their unique
  id and are written with de-duplication, so an event that was committed before the crash is not
  written twice, and a second restart adds nothing.
* ``deadletter-<owner>.jsonl`` — events that could not be written even in sanitised form (never given
  a ``seq``); ``tokensmith audit verify`` reports them.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger("tokensmith.audit")
_DUMP = orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE
FIELDS = ("id", "ts", "type", "tenant_id", "actor", "subject", "ip", "request_id", "data")


def spool_directory(base: Path, database_url: str) -> Path:
    """One sub-directory per database, so that two deployments sharing a directory never replay each
    other's events (the URL's password is left out of the fingerprint)."""
    from sqlalchemy.engine import make_url

    try:
        name = make_url(database_url).render_as_string(hide_password=True)
    except Exception:
        name = database_url.rsplit("@", 1)[-1]
    return base / hashlib.sha256(name.encode()).hexdigest()[:16]


def encode(event: Any) -> bytes:
    """One spool line; an event the encoder refuses (a huge integer, a lone surrogate) is spooled in its
    sanitised form rather than not at all."""
    record = {"id": event.id, "ts": event.ts, "type": event.type, "tenant_id": event.tenant_id, "actor": event.actor,
              "subject": event.subject, "ip": event.ip, "request_id": event.request_id, "data": event.data}
    try:
        return orjson.dumps(record, option=_DUMP, default=str)
    except (orjson.JSONEncodeError, TypeError):
        from tokensmith.audit.sanitise import clean_value

        return orjson.dumps(clean_value(record), option=_DUMP, default=str)


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    """The readable lines of a segment (a line cut short by a power loss is skipped)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return
    for line in raw.splitlines():
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("id"), str):
            yield record


@dataclass
class _Segment:
    path: Path
    open_events: int = 0


class AuditSpool:
    """One process's spool (the owner is created lazily, so a forked worker gets its own)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._pid: int | None = None
        self.owner = ""
        self._lock_fd: int | None = None
        self._fd: int | None = None
        self._active: int | None = None
        self._next = 0
        self._segments: dict[int, _Segment] = {}
        self._adopted_locks: list[tuple[int, Path]] = []
        self._adopted_next = -2  # adopted segments count down from -2 (-1: "not spooled")
        self._failing = False

    # ---- the hot path ----
    def append(self, event: Any) -> int:
        """Write one event (one ``write()``); returns its segment, or -1 when the spool cannot be
        written (the event is then only in memory, as before the spool existed)."""
        try:
            if self._fd is None or self._pid != os.getpid():
                self._open_segment()
            fd, active = self._fd, self._active
            assert fd is not None and active is not None  # _open_segment opened both
            os.write(fd, encode(event))
        except OSError as exc:
            if not self._failing:
                self._failing = True
                log.error("audit spool not writable (%s): events are kept in memory only", type(exc).__name__)
            return -1
        self._failing = False
        segment = self._segments[active]
        segment.open_events += 1
        return active

    def _open_segment(self) -> None:
        if self._pid != os.getpid():  # first use, or a forked child: a new owner of its own
            self._pid, self._fd, self._active, self._segments = os.getpid(), None, None, {}
            self.owner = f"{os.getpid()}-{secrets.token_hex(4)}"
            self.directory.mkdir(parents=True, exist_ok=True)
            lock_path = self.directory / f"owner-{self.owner}.lock"
            self._lock_fd = os.open(lock_path, os.O_WRONLY | os.O_CREAT, 0o600)
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        number = self._next
        self._next += 1
        path = self.directory / f"audit-{self.owner}-{number}.spool"
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._active = number
        self._segments[number] = _Segment(path)

    # ---- the writer's side ----
    def rotate(self) -> None:
        """Start a new segment for events recorded from now on (called as a batch write begins), so that
        the segments holding the batch can be deleted once it is committed."""
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
            self._fd = None
            done = self._active
            self._active = None
            if done is not None:
                self._release_if_done(done)

    def written(self, segment: int) -> None:
        """One event of ``segment`` is committed (or set aside for good)."""
        found = self._segments.get(segment)
        if found is None:
            return
        found.open_events -= 1
        self._release_if_done(segment)

    def _release_if_done(self, number: int) -> None:
        segment = self._segments.get(number)
        if segment is None or segment.open_events > 0 or number == self._active:
            return
        del self._segments[number]
        segment.path.unlink(missing_ok=True)
        if not any(n < -1 for n in self._segments):
            self._release_adopted_owners()

    def dead_letter(self, event: Any) -> None:
        """An event that no form of could be written: kept for ``audit verify``, never given a seq."""
        self.directory.mkdir(parents=True, exist_ok=True)
        owner = self.owner or f"{os.getpid()}"
        with (self.directory / f"deadletter-{owner}.jsonl").open("ab") as fh:
            fh.write(encode(event))

    # ---- start-up ----
    def adopt(self) -> list[dict[str, Any]]:
        """The events of dead owners, oldest segment first; their segments count as this process's
        (negative numbers) until the events are written."""
        if not self.directory.is_dir():
            return []
        records: list[tuple[int, dict[str, Any]]] = []
        owners: set[str] = set()
        for lock_path in sorted(self.directory.glob("owner-*.lock")):
            owner = lock_path.name[len("owner-"):-len(".lock")]
            if owner == self.owner:
                continue
            fd = os.open(lock_path, os.O_WRONLY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)  # alive
                continue
            self._adopted_locks.append((fd, lock_path))
            owners.add(owner)
        live = {p.name[len("owner-"):-len(".lock")] for p in self.directory.glob("owner-*.lock")} - owners
        for path in sorted(self.directory.glob("audit-*.spool"), key=_segment_order):
            owner = path.name[len("audit-"):].rsplit("-", 1)[0]
            if owner in live or owner == self.owner:
                continue
            number, self._adopted_next = self._adopted_next, self._adopted_next - 1
            segment = self._segments[number] = _Segment(path)
            for record in _lines(path):
                segment.open_events += 1
                records.append((number, record))
            self._release_if_done(number)
        if not any(n < -1 for n in self._segments):
            self._release_adopted_owners()
        return [dict(record, segment=number) for number, record in records]

    def _release_adopted_owners(self) -> None:
        for fd, path in self._adopted_locks:
            path.unlink(missing_ok=True)
            os.close(fd)
        self._adopted_locks = []

    def close(self) -> None:
        """At a clean stop, after the last flush: what is still unwritten stays for the next start."""
        if self._pid != os.getpid():
            return
        self.rotate()
        if self._lock_fd is not None:
            if not self._segments:
                (self.directory / f"owner-{self.owner}.lock").unlink(missing_ok=True)
            os.close(self._lock_fd)
            self._lock_fd = None
        self._release_adopted_owners()
        self._pid = None
        try:
            self.directory.rmdir()  # only when empty
        except OSError:
            pass


def _alive(directory: Path, owner: str) -> bool:
    """Whether the owner of a segment still runs (holds its lock); the probe holds the lock a moment."""
    try:
        fd = os.open(directory / f"owner-{owner}.lock", os.O_WRONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # closing releases a lock taken by the probe
    return False


def spooled(directory: Path) -> tuple[list[tuple[dict[str, Any], bool]], list[dict[str, Any]]]:
    """For ``audit verify`` (another process): every spooled event with whether its writer is alive,
    and every dead-lettered event."""
    if not directory.is_dir():
        return [], []
    events: list[tuple[dict[str, Any], bool]] = []
    alive: dict[str, bool] = {}
    for path in sorted(directory.glob("audit-*.spool")):
        owner = path.name[len("audit-"):].rsplit("-", 1)[0]
        if owner not in alive:
            alive[owner] = _alive(directory, owner)
        events.extend((record, alive[owner]) for record in _lines(path))
    dead = [record for path in sorted(directory.glob("deadletter-*.jsonl")) for record in _lines(path)]
    return events, dead


def _segment_order(path: Path) -> tuple[float, str]:
    try:
        return (path.stat().st_mtime, path.name)
    except FileNotFoundError:
        return (0.0, path.name)
