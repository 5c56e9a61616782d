"""Walking a long chain on several cores (``tokensmith audit verify``).

Every row's check needs only the row itself and the *stored* hash of the row before it, so the range to
verify can be cut into contiguous parts checked at the same time: each part resumes after the last one
or two rows before it (:meth:`ChainWalker.resume_after`), which gives exactly the state a serial walk
has there -- the hash to check against, the seq it expects, whether the row before was bad. The parts'
findings, put back in seq order, are therefore the serial walk's, message for message.

The parts are shared out as the walk goes: every part but the last is queued for the worker processes
(spawned: a fresh interpreter each, no inherited event loop or database connection, each with its own
connection), which take them from the front; the calling process walks the last part -- open-ended, it
takes the events written during the walk -- and then takes queued parts from the back, as long as no
worker has started them. So a worker that needs a second to start (importing the package) is not left
with an equal share to finish alone. Only the CLI asks for this: the service's background verification
stays in one process (``workers=1``) so that it never competes with requests for cores.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from tokensmith.audit.chain import ChainProblem, ChainWalker, RawRow
from tokensmith.audit.checkpoints import CHECKPOINT_TYPE
from tokensmith.audit.names import NameDictionary, json_names
from tokensmith.audit.store import last_rows, raw_chunks
from tokensmith.audit.stored_form import packed_names
from tokensmith.config import Settings
from tokensmith.storage.db import Database
from tokensmith.storage.shapes import json_decoders

#: a process's least share: below it a process costs more to start (~0.5-1 s here) than it saves
MIN_PART = 200_000
#: parts per process: small enough that the processes finish within a part of each other
PARTS_PER_WORKER = 4


@dataclass(frozen=True)
class PartResult:
    """What a part's walker found (sent back from a worker process)."""

    count: int
    problems: list[ChainProblem]
    checkpoints: list[tuple[int, str]]


async def load_names(names: NameDictionary, walker: ChainWalker) -> None:
    """Give the walker the whole name dictionary (loaded once per walk)."""
    loaded = await names.load_all()
    walker.names, walker.shapes = json_names(loaded), json_decoders(loaded)
    walker.packed_names = packed_names(loaded)
    walker.checkpoint_code = await names.code_of(CHECKPOINT_TYPE)


async def refresh_names(names: NameDictionary, walker: ChainWalker, rows: list[RawRow]) -> None:
    """Reload the dictionary when a chunk uses a code added since (events written during the walk); a
    code that is still unknown then makes its row unreadable."""
    known = walker.names
    if all(r[3] in known and r[4] in known and r[5] in known and r[11] in known for r in rows):
        return
    await load_names(names, walker)


async def walk(db: Database, names: NameDictionary, walker: ChainWalker, after: int,
               until: int | None = None) -> None:
    async for rows in raw_chunks(db, after=after, until=until):
        await refresh_names(names, walker, rows)
        walker.feed(rows)


def cut(start: int, last: int, workers: int, min_part: int = MIN_PART) -> list[int]:
    """Part boundaries ``start = b0 < b1 < … < bk``: part i checks ``b_i < seq <= b_{i+1}`` (the last part
    is open-ended). One part for one process or for fewer than ``2 * min_part`` events (too little to pay
    for starting a process); else up to ``PARTS_PER_WORKER`` parts per process, of at least
    ``min_part / PARTS_PER_WORKER`` events each."""
    total = last - start
    if workers <= 1 or total < 2 * min_part:
        return [start]
    parts = max(2, min(PARTS_PER_WORKER * workers, total // max(1, min_part // PARTS_PER_WORKER)))
    return [start + i * total // parts for i in range(parts)]


def default_workers(configured: int) -> int:
    return configured if configured > 0 else (os.cpu_count() or 1)


async def walk_parts(db: Database, names: NameDictionary, walker: ChainWalker, settings: Settings,
                     last: int, workers: int, min_part: int = MIN_PART) -> None:
    """Check ``walker.last_seq < seq`` to the end with up to ``workers`` processes; afterwards ``walker``
    holds the findings of all parts, in seq order, as if it had walked alone."""
    start, anchor = walker.last_seq, walker.last_hash
    starts = cut(start, last, workers, min_part)
    if len(starts) == 1:
        await walk(db, names, walker, start)
        return
    queued = list(itertools.pairwise(starts))
    with ProcessPoolExecutor(max_workers=min(workers - 1, len(queued)),
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(check_part, settings, walker.key, start, anchor, lo, hi) for lo, hi in queued]
        try:
            walker.resume_after(await last_rows(db, start, starts[-1]))
            await walk(db, names, walker, starts[-1])
            here: dict[int, PartResult] = {}
            for index in reversed(range(len(queued))):
                if not futures[index].cancel():
                    break  # a worker has it, and every part before it
                here[index] = await check_part_here(db, names, walker.key, start, anchor, *queued[index])
            results = [here[i] if i in here else await asyncio.wrap_future(futures[i]) for i in range(len(queued))]
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    walker.count += sum(r.count for r in results)
    walker.problems[:0] = [p for r in results for p in r.problems]
    walker.checkpoints[:0] = [c for r in results for c in r.checkpoints]


def check_part(settings: Settings, key: bytes, start: int, anchor: str, after: int, until: int) -> PartResult:
    """Check ``after < seq <= until`` of the walk that starts after ``(start, anchor)`` (in a worker)."""
    return asyncio.run(_check_part(settings, key, start, anchor, after, until))


async def _check_part(settings: Settings, key: bytes, start: int, anchor: str, after: int,
                      until: int) -> PartResult:
    db = Database(settings)
    try:
        return await check_part_here(db, NameDictionary(db), key, start, anchor, after, until)
    finally:
        await db.dispose()


async def check_part_here(db: Database, names: NameDictionary, key: bytes, start: int, anchor: str, after: int,
                          until: int) -> PartResult:
    """:func:`check_part` on a connection of this process."""
    walker = ChainWalker(key, last_seq=start, last_hash=anchor)
    await load_names(names, walker)
    walker.resume_after(await last_rows(db, start, after))
    await walk(db, names, walker, after, until)
    return PartResult(walker.count, walker.problems, walker.checkpoints)
