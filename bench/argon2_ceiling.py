"""The hardware ceiling of the ``login`` scenario: argon2id verifications per second on this machine with
tokensmith's parameters, with nothing else running — one thread, then as many threads as CPUs.

No sign-in can be faster than its password check, so ``login`` req/s divided by this figure is the share
of the CPUs the rest of a sign-in leaves to hashing.

Run: ``.venv/bin/python bench/argon2_ceiling.py [--seconds 5]``
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor

from tokensmith.people import passwords


def measure(threads: int, seconds: float) -> tuple[float, float]:
    """(verifications/s, CPU ms per verification) with ``threads`` threads hashing for ``seconds``."""
    stored = passwords.hash_password("correct horse battery staple")
    deadline = time.monotonic() + seconds

    def loop() -> int:
        done = 0
        while time.monotonic() < deadline:
            passwords.verify_password(stored, "correct horse battery staple")
            done += 1
        return done

    cpu0, wall0 = time.process_time(), time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(lambda _: loop(), range(threads)))
    wall, cpu = time.monotonic() - wall0, time.process_time() - cpu0
    return total / wall, cpu * 1000 / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    print(f"argon2id m={passwords.MEMORY_COST_KIB} KiB, t={passwords.TIME_COST}, p={passwords.PARALLELISM}; "
          f"{cpus} CPUs")
    print(f"{'threads':>7} {'verify/s':>9} {'cpu ms/verify':>14}")
    for threads in sorted({1, cpus}):
        rate, cpu_ms = measure(threads, args.seconds)
        print(f"{threads:>7} {rate:>9.1f} {cpu_ms:>14.1f}")


if __name__ == "__main__":
    main()
