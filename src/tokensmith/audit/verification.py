"""Verifying the audit log: the database from its anchor on, or from the newest checkpoint, and archive
files with their hand-over to each other and to the database.

The database's first row is seq 1 (anchor: the genesis hash) or follows pruned events; then a signed
checkpoint in the database must vouch for the hash of the last pruned event. Every checkpoint met on
the way is checked too: its signature, and that it states the hash the chain really had at its seq.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tokensmith.audit.chain import GENESIS, ChainProblem, ChainWalker
from tokensmith.audit.checkpoints import (
    CheckpointError,
    checkpoint_at,
    checkpoint_events,
    jws_of,
    verification_keys,
    verify_checkpoint,
)
from tokensmith.audit.parallel import MIN_PART, load_names, walk_parts
from tokensmith.audit.store import bounds, hash_at

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime


@dataclass
class Verification:
    events: int = 0
    problems: list[ChainProblem] = field(default_factory=list)
    first_seq: int | None = None
    last_seq: int | None = None
    head_hash: str | None = None
    anchor: str = "genesis"

    @property
    def ok(self) -> bool:
        return not self.problems

    def view(self) -> dict[str, Any]:
        return {"ok": self.ok, "events": self.events, "first_seq": self.first_seq, "anchor": self.anchor,
                "problems": [{"seq": p.seq, "problem": p.problem} for p in sorted(self.problems,
                                                                                  key=lambda p: p.seq)],
                "head": {"seq": self.last_seq, "hash": self.head_hash} if self.last_seq else None}


async def walker_for(rt: Runtime, *, last_seq: int, last_hash: str) -> ChainWalker:
    """A walker that knows the whole name dictionary (loaded once)."""
    walker = ChainWalker(rt.master.audit_key, last_seq=last_seq, last_hash=last_hash)
    await load_names(rt.audit.names, walker)
    return walker


async def _anchor_for(rt: Runtime, first: int, keys: dict[str, Any]) -> tuple[str | None, str]:
    """The hash before ``first``: genesis, or the one a signed checkpoint in the database states."""
    if first == 1:
        return GENESIS, "genesis"
    found = await checkpoint_at(rt, first - 1, keys)
    if found is None:
        return None, "none"
    return found[0].hash, f"checkpoint of seq {found[0].seq}"


async def _check_checkpoints(rt: Runtime, walker: ChainWalker, keys: dict[str, Any], result: Verification,
                             known: dict[int, str]) -> None:
    for seq, data in walker.checkpoints:
        try:
            checkpoint = verify_checkpoint(jws_of(data), keys)
        except CheckpointError as exc:
            result.problems.append(ChainProblem(seq, f"forged checkpoint: {exc}"))
            continue
        actual = known.get(checkpoint.seq) or await hash_at(rt.db, checkpoint.seq)
        if actual is not None and actual != checkpoint.hash:
            result.problems.append(ChainProblem(seq, f"checkpoint states a hash for seq {checkpoint.seq} "
                                                     "that the chain does not have"))


async def verify_database(rt: Runtime, *, since_checkpoint: bool = False, workers: int = 1,
                          min_part: int = MIN_PART) -> Verification:
    """Check the chain in the database; ``workers`` > 1 checks long ranges in that many processes
    (:mod:`tokensmith.audit.parallel`: the same findings, faster on several cores)."""
    result = Verification()
    span = await bounds(rt.db)
    if span is None:
        return result
    keys = await verification_keys(rt)
    first, last = span
    start, anchor, label = first - 1, None, "none"
    if since_checkpoint:
        for _seq, _at, jws in await checkpoint_events(rt, limit=1):
            try:
                checkpoint = verify_checkpoint(jws, keys)
            except CheckpointError as exc:
                result.problems.append(ChainProblem(_seq, f"forged checkpoint: {exc}"))
                break
            stored = await hash_at(rt.db, checkpoint.seq)
            if stored is not None and stored != checkpoint.hash:
                result.problems.append(ChainProblem(checkpoint.seq, "row differs from what the newest "
                                                                    "checkpoint states (changed)"))
            start, anchor, label = checkpoint.seq, checkpoint.hash, f"checkpoint of seq {checkpoint.seq}"
    if anchor is None and label == "none":
        anchor, label = await _anchor_for(rt, first, keys)
    result.anchor, result.first_seq = label, start + 1
    if anchor is None:
        result.problems.append(ChainProblem(first, f"events before seq {first} are gone and no valid "
                                                   "checkpoint covers them (deleted?)"))
        anchor = "?" * 64
    walker = await walker_for(rt, last_seq=start, last_hash=anchor)
    await walk_parts(rt.db, rt.audit.names, walker, rt.settings, last, workers, min_part)
    await _check_checkpoints(rt, walker, keys, result, {start: anchor})
    result.events, result.last_seq, result.head_hash = walker.count, walker.last_seq, walker.last_hash
    result.problems[:0] = walker.problems
    return result
