"""The audit log at ten million rows (issue 14), on PostgreSQL, in one run:

    .venv/bin/python bench/audit_volume.py --events 10000000 --archived 1000000 --duration 30

Layout of the generated table (so that it fits a shared machine's time): seq 1..A is a valid chain
(computed here with the real key, as in ``bench/audit.py``), then a signed checkpoint, then filler rows
up to N made by PostgreSQL itself (``generate_series``: real sizes and value shapes, hashes that do not
chain), then a checkpoint at the head and T valid events after it. Measured: bytes per event at N
rows, listing pages at N rows, ``verify --since-checkpoint`` (T events after the newest checkpoint,
whatever is before), and ``cc_jwt`` (wrk, tokensmith with 2 workers) alone and while ``tokensmith audit
archive --prune`` archives and prunes the A valid events out of the N-row table (the filler is never
read by the archiver: it is given a date between the two checkpoints, so it stops at the first).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text
from tests.support import (
    POSTGRES_URL,
    TEST_MASTER_KEY,
    asyncpg_url,
    create_postgres_database,
    drop_postgres_database,
    make_settings,
)

from audit import KEYS, SHAPE_NAME, START, TENANT, generate, page_ms, sizes
from run import SCOPE_CLIENT, parse_json_output
from tokensmith.audit.checkpoints import create_checkpoint
from tokensmith.audit.listing import Filters
from tokensmith.audit.verification import verify_database
from tokensmith.bootstrap import initialise
from tokensmith.clock import ManualClock
from tokensmith.runtime import Runtime

FILLER = """
INSERT INTO audit_events (seq, at, type_code, tenant_code, actor_code, subject, ip, request_id, id, data, hash,
                          shape_code)
SELECT g, CAST(:t0 AS bigint) + g * 300, 1, CAST(:tenant AS int), (:actors ::int[])[1 + g % 20],
       '\\x00'::bytea || convert_to('user-' || (g % 50000), 'UTF8'),
       '\\x03'::bytea || decode(lpad(to_hex(167772160 + (g % 7) * 256 + g % 13), 8, '0'), 'hex'),
       '\\x02'::bytea || decode(lpad(to_hex(g), 32, '0'), 'hex'),
       '\\x01'::bytea || decode(md5(g::text), 'hex'),
       int4send(CAST(CAST(:t0 AS bigint) / 1000000 + 3600 + g / 3333 AS int))
           || decode(md5('j' || g), 'hex') || decode(md5('s' || g), 'hex') || '\\x07'::bytea
           || convert_to('api_key', 'UTF8'),
       decode(md5(g::text) || md5('h' || g), 'hex'), CAST(:shape AS int)
FROM generate_series(CAST(:low AS bigint), CAST(:high AS bigint)) g
"""


async def seed(url: str, n: int, archived: int, tail: int) -> tuple[list[tuple[str, str]], int]:
    out: list[tuple[str, str]] = []
    clock = ManualClock(START + n * 0.0003 + 10)
    rt = Runtime(make_settings(url, audit_checkpoint_interval=0), clock=clock)
    await initialise(rt)
    await rt.reload_keys()
    await rt.audit.flush()
    started = time.perf_counter()
    await generate(rt, archived)
    first = await create_checkpoint(rt)
    assert first is not None
    clock.advance(3600)  # the archiver is given a date between the two checkpoints: it stops at this one
    out.append((f"valid chain of {archived:,} + checkpoint (s)", f"{time.perf_counter() - started:.0f}"))
    codes = await rt.audit.names.codes(["exchange.issued", TENANT, *KEYS, SHAPE_NAME])
    started = time.perf_counter()
    low = first.seq + 2
    while low <= n:
        high = min(low + 199_999, n)  # ~200k rows a statement: short transactions
        async with rt.db.engine.begin() as conn:
            await conn.execute(text(FILLER), {"t0": int(START * 1_000_000), "tenant": codes[TENANT],
                                              "actors": [codes[k] for k in KEYS], "low": low, "high": high,
                                              "shape": codes[SHAPE_NAME]})
        print(f"filler up to {high:,} ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
        low = high + 1
    async with rt.db.engine.begin() as conn:
        await conn.execute(text("ANALYZE audit_events"))
    out.append((f"filler rows up to {n:,} by generate_series (s)", f"{time.perf_counter() - started:.0f}"))
    table, index, rows = await sizes(rt)
    out += [("rows in the table", f"{rows:,}"), ("table / index / total bytes per event",
                                                 f"{table / rows:.0f} / {index / rows:.0f} / "
                                                 f"{(table + index) / rows:.0f}")]
    mid = str(n // 2)
    for label, filters, cursor in (
            ("page 1, no filter", Filters(), None), ("page at seq n/2, no filter", Filters(), mid),
            ("page at n/2, actor filter", Filters(actor=KEYS[3]), mid),
            ("page at n/2, subject filter", Filters(subject="user-123"), mid),
            ("page at n/2, type filter (high-volume type)", Filters(type="exchange.issued"), mid),
            ("page, rare type filter", Filters(type="audit.checkpoint"), None)):
        out.append((f"listing at {rows:,} rows: {label} (ms)", f"{await page_ms(rt, filters, cursor):.1f}"))
    await create_checkpoint(rt)
    await generate(rt, tail)
    started = time.perf_counter()
    recent = await verify_database(rt, since_checkpoint=True)
    assert recent.ok, recent.problems[:3]
    out.append((f"verify --since-checkpoint ({recent.events:,} events after it, {rows:,} rows in all)",
                f"{time.perf_counter() - started:.2f} s"))
    await rt.stop()
    return out, first.seq


def under_load(url: str, duration: int, nice: int, before: str) -> list[tuple[str, str]]:
    """wrk on cc_jwt alone, then while `tokensmith audit archive --prune` runs (same server, same run)."""
    work = Path(tempfile.mkdtemp(prefix="audit-volume-"))
    env = {**os.environ, "TOKENSMITH_ENV": "development", "TOKENSMITH_DATABASE_URL": url,
           "TOKENSMITH_MASTER_KEY": TEST_MASTER_KEY, "TOKENSMITH_LOG_LEVEL": "WARNING",
           "TOKENSMITH_ISSUER": "http://127.0.0.1:18099", "TOKENSMITH_AUDIT_CHECKPOINT_INTERVAL": "0"}
    exe = str(Path(sys.executable).parent / "tokensmith")
    made = subprocess.run([exe, "clients", "create", "--name", "bench", "--scope", SCOPE_CLIENT, "--token-format",
                           "jwt", "--json"], env=env, cwd=work, capture_output=True, text=True, check=True)
    creds = parse_json_output(made.stdout)
    server = subprocess.Popen([exe, "serve", "--port", "18099", "--workers", "2"], env=env, cwd=work,
                              start_new_session=True, stdout=subprocess.DEVNULL)
    basic = base64.b64encode(f"{creds['client_id']}:{creds['client_secret']}".encode()).decode()
    lua = work / "cc.lua"
    lua.write_text('wrk.method = "POST"\nwrk.body = "grant_type=client_credentials"\n'
                   'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
                   f'wrk.headers["Authorization"] = "Basic {basic}"\n')

    def wrk() -> str:
        run = subprocess.run(["wrk", "-t2", "-c32", f"-d{duration}s", "-s", str(lua),
                              "http://127.0.0.1:18099/oauth/token"], capture_output=True, text=True)
        return next((line.split()[-1] for line in run.stdout.splitlines() if "Requests/sec" in line), run.stdout)

    try:
        time.sleep(8)
        wrk()  # warm-up
        alone = wrk()
        started = time.perf_counter()
        argv = [exe, "audit", "archive", "--before", before, "--to", str(work / "a.jsonl.gz"), "--prune",
                "--json"]
        archiver = subprocess.Popen(["nice", "-n", str(nice), *argv] if nice else argv, env=env, cwd=work,
                                    stdout=subprocess.PIPE, text=True)
        during = wrk()
        after = wrk()
        result = archiver.communicate()[0]
        spent = time.perf_counter() - started
        return [("cc_jwt alone (req/s)", alone), (f"cc_jwt during archive + prune (req/s, archiver nice {nice})",
                                                  during),
                ("cc_jwt, next run (archive still going or done) (req/s)", after),
                ("archive + prune wall time (s) and result", f"{spent:.0f}: {json.dumps(parse_json_output(result))}")]
    finally:
        os.killpg(server.pid, 15)
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--archived", type=int, default=1_000_000, help="valid events at the start (archived)")
    parser.add_argument("--after-checkpoint", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=30, help="wrk seconds per run")
    parser.add_argument("--nice", type=int, default=0, help="run the archiver under nice -n N")
    args = parser.parse_args()
    pg_url = asyncio.run(create_postgres_database(POSTGRES_URL))
    try:
        url = asyncpg_url(pg_url)
        rows, _ = asyncio.run(seed(url, args.events, args.archived, args.after_checkpoint))
        for key, value in rows:
            print(f"| {key} | {value} |", flush=True)
        between = datetime.fromtimestamp(START + args.events * 0.0003 + 10 + 1800, UTC).isoformat()
        for key, value in under_load(url, args.duration, args.nice, between):
            print(f"| {key} | {value} |", flush=True)
    finally:
        asyncio.run(drop_postgres_database(POSTGRES_URL, pg_url))


if __name__ == "__main__":
    main()
