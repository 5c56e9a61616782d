"""Password hashing with argon2id at OWASP's recommended minimum (m=19 MiB, t=2, p=1); hashes made
with other parameters are upgraded at the next successful sign-in (``needs_rehash``).

Hashing is CPU-bound (tens of milliseconds): the ``*_async`` helpers run it in worker threads
(argon2-cffi releases the GIL), so the event loop keeps serving while a password is checked. The
threads are a pool of their own, the worker's share of the CPUs: a burst of sign-ins queues there instead
of taking every thread of the event loop's default executor, and no more 19 MiB hashes run at once than
there are CPUs.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from tokensmith.errors import InvalidRequest

MEMORY_COST_KIB = 19 * 1024
TIME_COST = 2
PARALLELISM = 1
#: Longer passwords are refused before hashing (argon2 itself has no limit; this bounds the work).
MAX_PASSWORD_LENGTH = 1024

_hasher = PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_COST_KIB, parallelism=PARALLELISM)


@functools.cache
def dummy_hash() -> str:
    """Verified against for unknown accounts so that a wrong email costs as much as a wrong password;
    made at the first use (a hash costs tens of milliseconds, and most processes -- every CLI command --
    never need it)."""
    return _hasher.hash("tokensmith-dummy-password-for-timing")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or dummy_hash(), password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    try:
        return _hasher.check_needs_rehash(stored_hash)
    except (InvalidHashError, ValueError):
        return True


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_threads: int | None = None  # set by size_pool_for_workers(); else every CPU


def hashing_threads(workers: int) -> int:
    """Password hashes one of ``workers`` processes may run at once: its share of the CPUs. More would not
    add throughput (argon2id is CPU- and memory-bound) but each thread keeps its own 19 MiB once it has
    hashed (the allocator reuses it for the next hash instead of faulting fresh pages in, which costs more
    CPU than a third of the hash itself)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, cpus // max(1, workers))


def size_pool_for_workers(workers: int) -> None:
    """A served worker sizes its hashing pool (before the first hash) by the number of workers."""
    global _threads
    _threads = hashing_threads(workers)


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(max_workers=_threads or hashing_threads(1), thread_name_prefix="argon2")
    return _pool


async def hash_password_async(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_executor(), hash_password, password)


async def verify_password_async(stored_hash: str | None, password: str) -> bool:
    """Exactly the work of :func:`verify_password` (against :func:`dummy_hash` when there is no hash)."""
    return await asyncio.get_running_loop().run_in_executor(_executor(), verify_password, stored_hash, password)


def check_password_policy(password: str, min_length: int) -> None:
    """NIST SP 800-63B §5.1.1.2: a minimum length, a generous maximum, no composition rules."""
    if len(password) < min_length:
        raise InvalidRequest(f"the password must be at least {min_length} characters long")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidRequest(f"the password must be at most {MAX_PASSWORD_LENGTH} characters long")
