"""What the crash spool adds to each audit event (docs/security.md, "Audit events and crashes"): CPU time
of ``AuditLog.record()`` with and without the spool, batches written (rotated, segments deleted) every
2,000 events as a busy token endpoint would. CPU time, not wall time, so that other load on the machine
inflates the figures less.

Run: ``.venv/bin/python bench/audit_spool_cost.py [--events 100000]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from tokensmith.audit.log import AuditLog
from tokensmith.audit.spool import AuditSpool
from tokensmith.clock import SystemClock

BATCH = 2000


def per_event_us(events: int, spool: AuditSpool | None) -> float:
    log = AuditLog(None, b"k" * 32, SystemClock(), spool=spool)  # type: ignore[arg-type]  # never writes
    pending: Any = log._pending
    started = time.process_time()
    for i in range(events):
        log.record("token.issued", tenant_id="0191d3c2-8a4b-7cde-9f01-23456789abcd", actor="client-abcdef123456",
                   subject="0191d3c2-8a4b-7cde-9f01-23456789abce", ip="127.0.0.1",
                   request_id="2e316ba3232d583a000000000000000f", grant="client_credentials", scope="api.read",
                   format="jwt", expires_in=3600)
        if i % BATCH == BATCH - 1:  # what a committed batch does to the spool
            if spool is not None:
                spool.rotate()
                for event in pending:
                    spool.written(event.segment)
            pending.clear()
    return (time.process_time() - started) / events * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="tokensmith-spool-bench-"))
    for _ in range(3):
        without = per_event_us(args.events, None)
        with_spool = per_event_us(args.events, AuditSpool(directory / "spool"))
        print(f"record(): {without:.2f} us without the spool, {with_spool:.2f} us with it "
              f"(+{with_spool - without:.2f} us CPU per event)")


if __name__ == "__main__":
    main()
