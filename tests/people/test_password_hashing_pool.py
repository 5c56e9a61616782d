"""A served worker hashes passwords on its share of the CPUs: never more threads than that (each keeps
19 MiB of argon2id memory), never none."""

from __future__ import annotations

import os

from tokensmith.people.passwords import hashing_threads


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def test_one_worker_hashes_on_every_cpu() -> None:
    assert hashing_threads(1) == _cpus()


def test_workers_share_the_cpus() -> None:
    cpus = _cpus()
    assert hashing_threads(cpus) == 1
    if cpus >= 2:
        assert hashing_threads(2) == cpus // 2


def test_more_workers_than_cpus_still_hash() -> None:
    assert hashing_threads(_cpus() * 8) == 1
    assert hashing_threads(0) == _cpus()  # a nonsensical count is treated as one worker
