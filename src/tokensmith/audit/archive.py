"""Archiving and pruning: the events up to a signed checkpoint go to a gzip JSON-lines file; with
``prune`` they are then deleted from the database in short, bounded transactions (writers append at the
other end of the table and never wait for more than one batch).

File layout: line 1 is a header (format, seq range, the hash before the first event and the checkpoint
that vouches for it, the checkpoint that covers the last event and that checkpoint's own event); then
one event per line, oldest first, each with its ``hash``. The file is written under a temporary name,
synced, read back and checked against the database before it gets its name -- and before anything is
deleted.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import hmac
import itertools
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import delete, func, select

from tokensmith.audit.chain import (
    GENESIS,
    ChainProblem,
    ChainWalker,
    RawRow,
    archive_line_parts,
    canonical,
    linker,
    row_body,
)
from tokensmith.audit.checkpoints import (
    Checkpoint,
    CheckpointError,
    checkpoint_at,
    checkpoint_events,
    verification_keys,
    verify_checkpoint,
)
from tokensmith.audit.mac import prekeyed_sha256
from tokensmith.audit.pacing import Pacing, niced_executor
from tokensmith.audit.store import CHUNK, bounds, decoded, raw_chunks
from tokensmith.audit.stored_form import STORED_KEY, decode_stored, encode_stored, fields_of_body, message, packed_names
from tokensmith.audit.verification import walker_for
from tokensmith.errors import InvalidRequest
from tokensmith.storage.models import AuditEvent

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

FORMAT = "tokensmith-audit-archive"
PRUNE_BATCH = 5000
COMPRESS_LEVEL = 3  # ~10 % larger files than level 6 at about half the CPU
_FIELDS = ("seq", "id", "at", "type", "tenant_id", "actor", "subject", "ip", "request_id", "data")


@dataclass(frozen=True)
class ArchiveResult:
    path: str
    first_seq: int
    last_seq: int
    events: int
    checkpoint_seq: int
    pruned: int = 0

    def view(self) -> dict[str, Any]:
        return dict(self.__dict__)


async def _boundary(rt: Runtime, before_us: int, keys: dict[str, Any]) -> tuple[Checkpoint, dict[str, Any]]:
    """The newest valid checkpoint recorded before the date, and its own event."""
    for seq, _at, jws in await checkpoint_events(rt, before_us=before_us):
        try:
            checkpoint = verify_checkpoint(jws, keys)
        except CheckpointError:
            continue
        async for rows in raw_chunks(rt.db, after=seq - 1, until=seq):
            names = await rt.audit.names.names((*rows[0][3:6], rows[0][11]))
            event = decoded(rows[0], names)
            # its stored form too, for a chain-format-2 row (a format-1 one is checked by its fields)
            event[STORED_KEY] = encode_stored(row_body(rows[0], packed_names(names))).decode()
            return checkpoint, event
    raise InvalidRequest("no checkpoint before that date: events are archived up to a signed checkpoint "
                         "(`tokensmith audit checkpoint` makes one)")


async def _start(rt: Runtime, first: int, keys: dict[str, Any]) -> tuple[str, str | None]:
    """The hash before ``first`` and the checkpoint JWS that vouches for it (None at genesis)."""
    if first == 1:
        return GENESIS, None
    found = await checkpoint_at(rt, first - 1, keys)
    if found is not None:
        return found[0].hash, found[1]
    raise InvalidRequest(f"the database starts at seq {first} and no checkpoint covers the events before it; "
                         "run `tokensmith audit verify`")


async def archive(rt: Runtime, before_us: int, path: Path, *, prune: bool = False,
                  pacing: Pacing | None = None) -> ArchiveResult:
    """Write the events up to the newest checkpoint before ``before_us`` to ``path`` (a directory: a file
    named after the seq range in it); optionally prune them. ``pacing`` caps the rate and lowers the
    priority of the work (:mod:`tokensmith.audit.pacing`; default: neither)."""
    pacing = pacing or Pacing()
    with niced_executor(pacing.nice) as executor:
        result = await _archive(rt, before_us, path, pacing, executor)
    pruned = await prune_through(rt, result.last_seq, pacing=pacing) if prune else 0
    return dataclasses.replace(result, pruned=pruned)


async def _archive(rt: Runtime, before_us: int, path: Path, pacing: Pacing, executor: Executor) -> ArchiveResult:
    keys = await verification_keys(rt)
    checkpoint, checkpoint_event = await _boundary(rt, before_us, keys)
    span = await bounds(rt.db)
    assert span is not None  # the checkpoint event is in the table
    first = span[0]
    if checkpoint.seq < first:
        raise InvalidRequest(f"the events up to seq {checkpoint.seq} are already pruned")
    if await asyncio.to_thread(path.is_dir):
        path = path / f"audit-{first:012d}-{checkpoint.seq:012d}.jsonl.gz"
    if await asyncio.to_thread(path.exists):
        raise InvalidRequest(f"{path} exists; archives are never overwritten")
    prev_hash, prev_jws = await _start(rt, first, keys)
    header = {"format": FORMAT, "version": 2, "first_seq": first, "last_seq": checkpoint.seq,
              "prev_hash": prev_hash, "prev_checkpoint": prev_jws, "checkpoint": checkpoint.jws,
              "checkpoint_event": checkpoint_event}
    walker = await walker_for(rt, last_seq=first - 1, last_hash=prev_hash)
    partial = path.with_name(path.name + ".partial")
    try:
        raw = open(partial, "xb")  # noqa: ASYNC230 - exclusive: one archiver per file at a time
    except FileExistsError as exc:
        raise InvalidRequest(f"{partial} exists: another archive of these events is being written") from exc
    loop, pacer = asyncio.get_running_loop(), pacing.pacer()
    with raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=COMPRESS_LEVEL) as out:
        out.write(orjson.dumps(header) + b"\n")
        async for rows in raw_chunks(rt.db, after=first - 1, until=checkpoint.seq, chunk=pacing.batch(CHUNK)):
            # the CPU work (chain check, JSON, gzip) runs in a worker thread, so that the service's event
            # loop keeps answering while the retention schedule archives millions of events
            await loop.run_in_executor(executor, _write_chunk, walker, rows, out)
            await pacer.step(len(rows))
    if walker.problems or walker.last_hash != checkpoint.hash or walker.last_seq != checkpoint.seq:
        partial.unlink()
        where = walker.problems[0].seq if walker.problems else checkpoint.seq
        raise InvalidRequest(f"the chain does not verify up to the checkpoint (seq {where}); nothing archived")
    await asyncio.to_thread(_sync, partial)
    check = await loop.run_in_executor(executor, verify_archive_file, partial, rt.master.audit_key, keys)
    if check.problems:
        partial.unlink()
        raise InvalidRequest(f"the archive written does not read back intact (seq {check.problems[0].seq})")
    partial.rename(path)
    return ArchiveResult(str(path), first, checkpoint.seq, walker.count, checkpoint.seq)


def _write_chunk(walker: ChainWalker, rows: list[RawRow], out: gzip.GzipFile) -> None:
    """Check a chunk and write its lines: each line is the event's canonical JSON plus its ``hash``, built
    by the walker from the bytes it checked (no decoding and re-encoding per event)."""
    lines: list[bytes] = []
    walker.feed(rows, lines)
    out.write(b"".join(lines))


def _sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


async def prune_through(rt: Runtime, last_seq: int, batch: int = PRUNE_BATCH, pacing: Pacing | None = None) -> int:
    """Delete the events with ``seq <= last_seq``, ``batch`` rows per transaction (smaller when paced). The
    newest event is never deleted (the writers continue the chain from it)."""
    pacing = pacing or Pacing()
    pacer, batch = pacing.pacer(), pacing.batch(batch)
    deleted = 0
    async with rt.db.sessions() as session:
        low = (await session.execute(select(func.min(AuditEvent.seq)))).scalar()
        tail = (await session.execute(select(func.max(AuditEvent.seq)))).scalar()
    if low is None or tail is None:
        return 0
    last_seq = min(last_seq, int(tail) - 1)
    low = int(low)
    while low <= last_seq:
        high = min(low + batch - 1, last_seq)
        async with rt.db.session() as session:
            result: Any = await session.execute(delete(AuditEvent).where(AuditEvent.seq >= low,
                                                                         AuditEvent.seq <= high))
            deleted += int(result.rowcount or 0)
        await pacer.step(high - low + 1)  # lets the writers in between batches, and keeps the pace
        low = high + 1
    return deleted


@dataclass
class ArchiveCheck:
    first_seq: int
    last_seq: int
    last_hash: str
    events: int
    prev_hash: str
    problems: list[ChainProblem]


def _lines(path: Path) -> Iterator[tuple[bytes, dict[str, Any]]]:
    with gzip.open(path, "rb") as fh:
        for line in fh:
            yield line, orjson.loads(line)


def _event_ok(mac: Callable[[bytes], bytes], link_to: Callable[[str, dict[str, Any]], str], prev: str,
              line: bytes, event: dict[str, Any]) -> bool:
    """Whether an archived event carries the hash the chain gives it. Fast path: the line is canonical
    JSON plus its hash (what :func:`archive` writes for a chain-format-1 row), so the bytes are hashed as
    they are -- a pass means they are exactly the bytes the writer hashed. Otherwise the event is checked
    by its stored form (format 2) or by its fields re-encoded (older archives)."""
    parts = archive_line_parts(line)
    if parts is not None and hmac.compare_digest(mac(prev.encode() + b"\n" + parts[0]), parts[1]):
        return True
    return _archived_event_ok(mac, link_to, prev, event)


def _archived_event_ok(mac: Callable[[bytes], bytes], link_to: Callable[[str, dict[str, Any]], str], prev: str,
                       event: dict[str, Any]) -> bool:
    fields = {k: event.get(k) for k in _FIELDS}
    if STORED_KEY in event and _stored_form_ok(mac, prev, event, fields):
        return True
    return hmac.compare_digest(link_to(prev, fields), str(event.get("hash")))


def _stored_form_ok(mac: Callable[[bytes], bytes], prev: str, event: dict[str, Any], fields: dict[str, Any]) -> bool:
    """A chain-format-2 event: its stored form carries the hash, and the fields shown beside it are what
    the stored form holds."""
    try:
        stored = decode_stored(event[STORED_KEY])
        if not hmac.compare_digest(mac(message(bytes.fromhex(prev), stored)), bytes.fromhex(str(event["hash"]))):
            return False
        return canonical(fields_of_body(stored)) == canonical(fields)
    except Exception:  # an unreadable stored form or hash: the event does not verify this way
        return False


def verify_archive_file(path: Path, key: bytes, keys: dict[str, Any]) -> ArchiveCheck:
    """Check one archive on its own: its chain from its starting hash, the checkpoints it carries."""
    lines = _lines(path)
    try:
        header = next(lines)[1]
    except (OSError, EOFError, StopIteration, orjson.JSONDecodeError) as exc:
        raise InvalidRequest(f"{path} is not a readable archive: {exc}") from exc
    if header.get("format") != FORMAT:
        raise InvalidRequest(f"{path} is not a tokensmith audit archive")
    first, last = int(header["first_seq"]), int(header["last_seq"])
    prev = str(header["prev_hash"])
    link_to, mac = linker(key), prekeyed_sha256(key)
    problems: list[ChainProblem] = []
    _check_header(header, keys, first, last, problems)
    expected, count, previous_bad = first, 0, False
    try:
        for line, event in lines:
            count += 1
            seq = int(event["seq"])
            gap = seq != expected
            if gap:
                problems.append(ChainProblem(seq, f"sequence gap in the archive: expected {expected}"))
            ok = _event_ok(mac, link_to, prev, line, event)
            if not ok:
                problems.append(ChainProblem(seq, "archived event changed" if not (gap or previous_bad)
                                             else "broken link in the archive (event deleted or inserted)"))
            if event.get("type") == "audit.checkpoint":
                _check_inner_checkpoint(event, keys, problems)
            previous_bad, prev, expected = not ok, str(event.get("hash")), seq + 1
    except (OSError, EOFError, orjson.JSONDecodeError, KeyError, ValueError) as exc:
        problems.append(ChainProblem(expected, f"archive unreadable from here: {type(exc).__name__}"))
    if expected - 1 != last:
        problems.append(ChainProblem(expected, f"archive ends at seq {expected - 1}, its header says {last}"))
    cp_event = header.get("checkpoint_event") or {}
    if not _archived_event_ok(mac, link_to, prev, cp_event) and cp_event.get("seq") == last + 1:
        problems.append(ChainProblem(last + 1, "the covering checkpoint event does not follow the archive"))
    return ArchiveCheck(first, last, prev, count, str(header["prev_hash"]), problems)


def _check_header(header: dict[str, Any], keys: dict[str, Any], first: int, last: int,
                  problems: list[ChainProblem]) -> None:
    try:
        checkpoint = verify_checkpoint(str(header.get("checkpoint")), keys)
        if checkpoint.seq != last:
            problems.append(ChainProblem(last, "the archive's checkpoint covers another seq"))
    except CheckpointError as exc:
        problems.append(ChainProblem(last, f"forged checkpoint in the archive: {exc}"))
    if first == 1:
        if header.get("prev_hash") != GENESIS:
            problems.append(ChainProblem(1, "an archive from seq 1 must start at the genesis hash"))
        return
    try:
        before = verify_checkpoint(str(header.get("prev_checkpoint")), keys)
        if (before.seq, before.hash) != (first - 1, header.get("prev_hash")):
            problems.append(ChainProblem(first, "the archive's starting hash is not the one its checkpoint states"))
    except CheckpointError as exc:
        problems.append(ChainProblem(first, f"forged starting checkpoint in the archive: {exc}"))


def _check_inner_checkpoint(event: dict[str, Any], keys: dict[str, Any], problems: list[ChainProblem]) -> None:
    try:
        verify_checkpoint(str((event.get("data") or {}).get("jws")), keys)
    except CheckpointError as exc:
        problems.append(ChainProblem(int(event["seq"]), f"forged checkpoint: {exc}"))


async def verify_archives(rt: Runtime, paths: list[Path]) -> tuple[int, list[ChainProblem], dict[str, Any]]:
    """Check archives, their hand-over to each other (in seq order) and to the database."""
    keys = await verification_keys(rt)
    checks = sorted([await asyncio.to_thread(verify_archive_file, p, rt.master.audit_key, keys) for p in paths],
                    key=lambda c: c.first_seq)
    problems = [p for c in checks for p in c.problems]
    for before, after in itertools.pairwise(checks):
        if after.first_seq != before.last_seq + 1 or after.prev_hash != before.last_hash:
            problems.append(ChainProblem(after.first_seq, f"archives do not join: one ends at seq {before.last_seq},"
                                                          f" the next starts at {after.first_seq}"))
    span = await bounds(rt.db)
    handover: dict[str, Any] = {"database_first_seq": span[0] if span else None}
    if checks and span is not None:
        problems.extend(await _handover(rt, checks[-1], span[0]))
    return sum(c.events for c in checks), problems, handover


async def _handover(rt: Runtime, last: ArchiveCheck, db_first: int) -> list[ChainProblem]:
    if db_first > last.last_seq + 1:
        return [ChainProblem(last.last_seq + 1, f"events {last.last_seq + 1}..{db_first - 1} are neither in the "
                                                "archives nor in the database")]
    if db_first <= last.last_seq:  # not pruned (yet): the database must hold the same hash there
        async for rows in raw_chunks(rt.db, after=last.last_seq - 1, until=last.last_seq):
            if bytes(rows[0][10]).hex() != last.last_hash:
                return [ChainProblem(last.last_seq, "the archive and the database differ at this seq")]
        return []
    walker = await walker_for(rt, last_seq=last.last_seq, last_hash=last.last_hash)
    async for rows in raw_chunks(rt.db, after=last.last_seq, until=last.last_seq + 1):
        walker.feed(rows)
    return [ChainProblem(p.seq, f"the database does not continue the archive: {p.problem}") for p in walker.problems]


__all__ = ["ArchiveResult", "archive", "canonical", "prune_through", "verify_archive_file", "verify_archives"]
