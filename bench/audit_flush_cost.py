"""CPU time of the audit writer per event (issue 9, cc_jwt): ``AuditLog.record()`` and the batch write of
``flush()`` for ``token.issued`` events shaped like the ``cc_jwt`` scenario's, on a fresh SQLite file. CPU
time (this process and its SQLite thread), not wall time, so that other load on the machine inflates the
figures less. With ``--against DIR`` (a ``src`` tree of another revision, e.g. from ``git archive``) the two
trees are measured in alternating rounds, each in a fresh interpreter, and the minimum of each is printed.

Run: ``.venv/bin/python bench/audit_flush_cost.py [--events 20000] [--rounds 5] [--against /tmp/old/src]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


async def measure(events: int) -> tuple[float, float]:
    from tests.support import make_settings

    from tokensmith.bootstrap import initialise
    from tokensmith.runtime import Runtime

    directory = tempfile.mkdtemp()
    rt = Runtime(make_settings(f"sqlite+aiosqlite:///{directory}/t.db", audit_spool_dir=f"{directory}/spool"))
    await initialise(rt)

    def record(n: int, start: int) -> None:
        for i in range(start, start + n):
            rt.audit.record("token.issued", tenant_id="3f0e2a1b-0000-4000-8000-000000000001", actor="cli_abcd1234",
                            subject=f"0190a1b2-c3d4-7e5f-8a9b-{i:012d}", ip="127.0.0.1", request_id="ab" * 16,
                            grant="client_credentials", format="jwt", scope="read write")

    record(2000, 0)
    await rt.audit.flush()  # warm: dictionary codes, compiled statements
    started = time.process_time()
    record(events, 10_000)
    recorded = time.process_time()
    await rt.audit.flush()
    flushed = time.process_time()
    await rt.db.dispose()
    return (recorded - started) / events * 1e6, (flushed - recorded) / events * 1e6


def child(tree: str, events: int) -> tuple[float, float]:
    env = dict(os.environ, PYTHONPATH=f"{tree}{os.pathsep}{HERE}")
    out = subprocess.run([sys.executable, __file__, "--child", "--events", str(events)], env=env, check=True,
                         capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--against", help="another revision's src directory, measured in alternating rounds")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(*asyncio.run(measure(args.events)))
        return
    trees = {"this tree": str(HERE / "src")} | ({"against": args.against} if args.against else {})
    best = {name: (float("inf"), float("inf")) for name in trees}
    for _ in range(args.rounds):
        for name, tree in trees.items():
            rec, flush = child(tree, args.events)
            best[name] = (min(best[name][0], rec), min(best[name][1], flush))
    for name, (rec, flush) in best.items():
        print(f"{name:10s} record {rec:6.2f} us/event   flush {flush:6.2f} us/event   (min of {args.rounds} rounds)")


if __name__ == "__main__":
    main()
