"""The audit log at volume (issue 14): bytes per ``exchange.issued`` event, ``audit verify`` events/s, a
verify from the newest checkpoint, and listing-page latency, on SQLite or PostgreSQL.

    .venv/bin/python bench/audit.py --events 1000000 --database sqlite [--chain-format 1]
    .venv/bin/python bench/audit.py --events 1000000 --database postgres     # a fresh database, dropped after
    .venv/bin/python bench/audit.py --mode archive-under-load --events 10000000 --database postgres

Events are generated in bulk (the chain computed here with the real key and code, then COPY / executemany),
not through the service. ``archive-under-load`` serves tokensmith (2 workers), runs wrk on ``cc_jwt``
alone, then again while ``tokensmith audit archive --prune`` runs, and prints both rates.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support import (
    POSTGRES_URL,
    TEST_MASTER_KEY,
    asyncpg_url,
    create_postgres_database,
    drop_postgres_database,
    make_settings,
)

from tokensmith.audit.archive import archive
from tokensmith.audit.chain import ChainWalker, row_body
from tokensmith.audit.checkpoints import create_checkpoint
from tokensmith.audit.listing import Filters, list_events
from tokensmith.audit.mac import prekeyed_sha256
from tokensmith.audit.store import head
from tokensmith.audit.stored_form import message
from tokensmith.audit.verification import verify_database, walker_for
from tokensmith.bootstrap import initialise
from tokensmith.clock import ManualClock
from tokensmith.ids import new_id
from tokensmith.runtime import Runtime
from tokensmith.storage.compact import pack_ip, pack_text, utc_micros
from tokensmith.storage.shapes import SHAPE_PREFIX, shape_named

BATCH = 20_000
START = 1_790_000_000.0
TENANT = new_id()
KEYS = [f"apikey:{new_id()}" for _ in range(20)]


def _uuid(value: int) -> str:
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_SUBJECTS: list[bytes] = []
_IPS = [pack_ip(f"10.0.{a}.{b}") for a in range(7) for b in range(13)]
_V7, _V4 = (0x7 << 76) | (0b10 << 62), (0x4 << 76) | (0b10 << 62)
#: the shape of an exchange.issued event's data (what the service's writer stores, storage.shapes)
SHAPE_NAME = SHAPE_PREFIX + '[["exp","n"],["jti","u"],["sid","u"],["via","s"]]'
_SHAPE = shape_named(SHAPE_NAME)


def _events(start_seq: int, prev: str, n: int, walker: ChainWalker, codes: dict[str, int],
            t0: float, chain_format: int) -> tuple[list[tuple[Any, ...]], str]:
    """``n`` exchange.issued rows (as stored) chained after ``prev``; one event per 300 µs of clock. Ids
    are UUIDv7/v4-shaped values derived from seq (cheap; same sizes as real ones). The canonical bytes
    come from the verifier's assembler (equal to the writer's: tests/audit/test_compact_rows)."""
    if not _SUBJECTS:
        _SUBJECTS.extend(pack_text(f"user-{i}") for i in range(50_000))
    rows = []
    mac, canonical_of = prekeyed_sha256(walker.key), walker._canonical
    tenant, type_code, shape = codes[TENANT], codes["exchange.issued"], codes[SHAPE_NAME]
    actors = [codes[k] for k in KEYS]
    for i in range(n):
        seq = start_seq + i
        ts = t0 + seq * 0.0003
        ms = int(ts * 1000)
        eid = (ms << 80) | _V7 | (seq * 2654435761 & 0xFFFFFFFFFFFF)
        data = _SHAPE.pack([int(ts) + 3600, _uuid(eid ^ 1), _uuid(_V4 | (seq * 40503 << 8)), "api_key"])
        row = (seq, b"\x01" + eid.to_bytes(16, "big"), round(ts * 1_000_000), type_code, tenant,
               actors[seq % len(actors)], _SUBJECTS[seq % 50_000], _IPS[(seq % 7) * 13 + seq % 13],
               b"\x02" + seq.to_bytes(16, "big"), data, b"", shape)
        if chain_format == 2:
            digest = mac(message(bytes.fromhex(prev), row_body(row, walker.packed_names)))
        else:
            digest = mac(prev.encode() + b"\n" + canonical_of(row))
        rows.append((*row[:10], digest, shape))
        prev = digest.hex()
    return rows, prev


async def generate(rt: Runtime, n: int, chain_format: int = 2) -> float:
    started = time.perf_counter()
    tail = await head(rt.db)
    seq, prev = (tail[0] + 1, tail[1]) if tail else (1, "0" * 64)
    codes = await rt.audit.names.codes(["exchange.issued", TENANT, *KEYS, SHAPE_NAME])
    walker = await walker_for(rt, last_seq=0, last_hash=prev)
    columns = ["seq", "id", "at", "type_code", "tenant_code", "actor_code", "subject", "ip", "request_id", "data",
               "hash", "shape_code"]
    async with rt.db.engine.connect() as conn:
        driver: Any = (await conn.get_raw_connection()).driver_connection
        done = 0
        while done < n:
            rows, prev = _events(seq + done, prev, min(BATCH, n - done), walker, codes, START, chain_format)
            if rt.db.dialect == "postgresql":
                await driver.copy_records_to_table("audit_events", records=rows, columns=columns)
            else:
                await driver.executemany(f"INSERT INTO audit_events ({', '.join(columns)}) VALUES "
                                         f"({', '.join('?' * len(columns))})", rows)
                await driver.commit()
            done += len(rows)
    if rt.db.dialect == "postgresql":
        async with rt.db.engine.begin() as conn:
            from sqlalchemy import text

            await conn.execute(text("ANALYZE audit_events"))
    return time.perf_counter() - started


async def sizes(rt: Runtime) -> tuple[int, int, int]:
    """(table bytes, index bytes, rows)."""
    from sqlalchemy import text

    async with rt.db.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT count(*) FROM audit_events"))).scalar_one()
        if rt.db.dialect == "postgresql":
            table = (await conn.execute(text("SELECT pg_table_size('audit_events')"))).scalar_one()
            index = (await conn.execute(text("SELECT pg_indexes_size('audit_events')"))).scalar_one()
        else:
            found = dict((await conn.execute(text(
                "SELECT name, SUM(pgsize) FROM dbstat WHERE name = 'audit_events' OR name IN "
                "(SELECT name FROM sqlite_master WHERE tbl_name = 'audit_events' AND type = 'index') "
                "GROUP BY name"))).all())
            table = found.pop("audit_events", 0)
            index = sum(found.values())
    return int(table), int(index), int(rows)


async def page_ms(rt: Runtime, filters: Filters, cursor: str | None, repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        await list_events(rt, TENANT, filters, cursor=cursor, limit=100)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def _cpu() -> float:
    """CPU seconds of this process and of its waited-for children (the verify's worker processes)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


async def verify_rounds(rt: Runtime, workers: int, rounds: int = 2) -> list[tuple[str, str]]:
    """``audit verify`` of everything in one process and in ``workers``, alternated (A/B in one run)."""
    found: dict[int, list[tuple[float, float]]] = {1: [], workers: []}
    for _ in range(rounds):
        for count in dict.fromkeys((1, workers)):
            started, cpu = time.perf_counter(), _cpu()
            result = await verify_database(rt, workers=count)
            spent = time.perf_counter() - started
            assert result.ok, result.problems[:3]
            found[count].append((result.events / spent, (_cpu() - cpu) / result.events * 1e6))
    return [(f"verify all, {count} process{'es' if count > 1 else ''} (events/s; cpu µs/event; load "
             f"{os.getloadavg()[0]:.1f})", " / ".join(f"{rate:,.0f}" for rate, _ in runs)
             + f"; {statistics.median(c for _, c in runs):.1f}") for count, runs in found.items()]


async def measure(url: str, n: int, tail: int, workers: int = 2, chain_format: int = 2) -> list[tuple[str, str]]:
    clock = ManualClock(START + n * 0.0003 + 10)
    rt = Runtime(make_settings(url, audit_checkpoint_interval=0), clock=clock)
    await initialise(rt)
    await rt.reload_keys()
    await rt.audit.flush()
    out = [("database", rt.db.dialect), ("events", f"{n:,}"), ("chain format", str(chain_format))]
    out.append(("generate (s)", f"{await generate(rt, n, chain_format):.1f}"))
    table, index, rows = await sizes(rt)
    out += [("table bytes/event", f"{table / rows:.0f}"), ("index bytes/event", f"{index / rows:.0f}"),
            ("total bytes/event", f"{(table + index) / rows:.0f}")]
    out += await verify_rounds(rt, workers)
    await create_checkpoint(rt)
    await generate(rt, tail, chain_format)
    started = time.perf_counter()
    recent = await verify_database(rt, since_checkpoint=True)
    assert recent.ok
    out.append((f"verify since checkpoint ({tail:,} after it)", f"{time.perf_counter() - started:.2f} s"))
    mid = str(n // 2)
    since = datetime.fromtimestamp(START + n * 0.00015, UTC)
    for label, filters, cursor in (
        ("page 1, no filter", Filters(), None), ("page at seq n/2, no filter", Filters(), mid),
        ("page at n/2, actor filter", Filters(actor=KEYS[3]), mid),
        ("page at n/2, subject filter", Filters(subject="user-123"), mid),
        ("page at n/2, type filter", Filters(type="exchange.issued"), mid),
        ("page, rare type filter", Filters(type="audit.checkpoint"), None),
        ("page, time range from n/2", Filters(since=since), None)):
        out.append((f"listing: {label} (ms)", f"{await page_ms(rt, filters, cursor):.1f}"))
    out += await archive_while_writing(rt, clock)
    await rt.stop()
    return out


async def _writer_probe(rt: Runtime, work: Any) -> tuple[list[float], list[float]]:
    """While ``work`` runs: a writer appends 10 events and flushes every 20 ms; returns the flush times
    and how late each 20 ms sleep woke up (the event loop's lag), in ms."""
    flushes, lags = [], []
    task = asyncio.ensure_future(work)
    while not task.done() or not flushes:
        for _ in range(10):
            rt.audit.record("exchange.issued", tenant_id=TENANT, actor=KEYS[0], subject="probe")
        t = time.perf_counter()
        await rt.audit.flush()
        flushes.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        await asyncio.sleep(0.02)
        lags.append((time.perf_counter() - t - 0.02) * 1000)
    await task
    return flushes, lags


def _p(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


async def archive_while_writing(rt: Runtime, clock: ManualClock) -> list[tuple[str, str]]:
    """Archive + prune everything up to a new checkpoint (in-process, as the retention schedule does) while
    a writer keeps appending; the writer's flush time and the loop's lag, against the same probe idle."""
    idle_flush, idle_lag = await _writer_probe(rt, asyncio.sleep(2))
    checkpoint = await create_checkpoint(rt)
    assert checkpoint is not None
    clock.advance(1)
    folder = Path(tempfile.mkdtemp(prefix="audit-archive-"))
    started = time.perf_counter()
    result: list[Any] = []

    async def run() -> None:
        result.append(await archive(rt, utc_micros(rt.clock.now()), folder, prune=True))

    flush, lag = await _writer_probe(rt, run())
    spent = time.perf_counter() - started
    size = sum(f.stat().st_size for f in folder.iterdir())
    shutil.rmtree(folder, ignore_errors=True)
    after = await verify_database(rt)
    assert after.ok, after.problems[:3]
    return [("archive + prune in-process (events, s, events/s)",
             f"{result[0].events:,}, {spent:.1f} s, {result[0].events / spent:,.0f}/s, {size / result[0].events:.0f} "
             "bytes/event gzip"),
            ("writer flush p50 / p99 / max, idle (ms)", f"{_p(idle_flush, .5):.1f} / {_p(idle_flush, .99):.1f} / "
             f"{max(idle_flush):.1f}"),
            ("writer flush p50 / p99 / max, during archive + prune (ms)",
             f"{_p(flush, .5):.1f} / {_p(flush, .99):.1f} / {max(flush):.1f}"),
            ("event-loop lag p50 / max, idle / during (ms)",
             f"{_p(idle_lag, .5):.1f} / {max(idle_lag):.1f} ; {_p(lag, .5):.1f} / {max(lag):.1f}"),
            ("verify after the prune (events)", f"{after.events:,} ({after.anchor})")]


def archive_under_load(url: str, n: int, duration: int) -> None:  # pragma: no cover - run by the lead
    """wrk on cc_jwt alone, then while `tokensmith audit archive --prune` runs; prints both rates."""
    work = Path(tempfile.mkdtemp(prefix="audit-bench-"))
    env = {**os.environ, "TOKENSMITH_ENV": "development", "TOKENSMITH_DATABASE_URL": url,
           "TOKENSMITH_MASTER_KEY": TEST_MASTER_KEY, "TOKENSMITH_LOG_LEVEL": "WARNING",
           "TOKENSMITH_ACCESS_LOG": "false", "TOKENSMITH_AUDIT_CHECKPOINT_INTERVAL": "0"}
    exe = str(Path(sys.executable).parent / "tokensmith")

    async def seed() -> None:
        rt = Runtime(make_settings(url, audit_checkpoint_interval=0))
        await initialise(rt)
        await rt.reload_keys()
        await generate(rt, n)
        await create_checkpoint(rt)
        await rt.stop()

    asyncio.run(seed())
    client = subprocess.run([exe, "clients", "create", "--name", "bench", "--json"], env=env, cwd=work,
                            capture_output=True, text=True, check=True)
    import json

    creds = json.loads(client.stdout)
    server = subprocess.Popen([exe, "serve", "--port", "18099", "--workers", "2"], env=env, cwd=work,
                              start_new_session=True)
    try:
        time.sleep(5)
        lua = work / "cc.lua"
        import base64

        basic = base64.b64encode(f"{creds['client_id']}:{creds['client_secret']}".encode()).decode()
        lua.write_text('wrk.method = "POST"\nwrk.body = "grant_type=client_credentials"\n'
                       'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
                       f'wrk.headers["Authorization"] = "Basic {basic}"\n')

        def wrk() -> str:
            run = subprocess.run(["wrk", "-t2", "-c64", f"-d{duration}s", "-s", str(lua),
                                  "http://127.0.0.1:18099/oauth/token"], capture_output=True, text=True)
            return next((line for line in run.stdout.splitlines() if "Requests/sec" in line), run.stdout)

        alone = wrk()
        archiver = subprocess.Popen([exe, "audit", "archive", "--before", "2100-01-01", "--to",
                                     str(work / "a.jsonl.gz"), "--prune", "--json"], env=env, cwd=work)
        during = wrk()
        archiver.wait()
        print(f"cc_jwt alone:            {alone}\ncc_jwt while archiving:  {during}\n"
              f"archive exit status {archiver.returncode}")
    finally:
        os.killpg(server.pid, 15)
        server.wait()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--after-checkpoint", type=int, default=100_000,
                        help="events written after the checkpoint for the since-checkpoint verify")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--mode", choices=["measure", "archive-under-load"], default="measure")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes of the parallel verify (measured against one, alternated)")
    parser.add_argument("--duration", type=int, default=20, help="wrk seconds per run (archive-under-load)")
    parser.add_argument("--chain-format", type=int, choices=[1, 2], default=2,
                        help="chain format of the generated events (1: rows written before format 2)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="audit-bench-"))
    pg_url = None
    try:
        if args.database == "postgres":
            pg_url = asyncio.run(create_postgres_database(POSTGRES_URL))
            url = asyncpg_url(pg_url)
        else:
            url = f"sqlite+aiosqlite:///{tmp}/audit.db"
        if args.mode == "archive-under-load":
            archive_under_load(url, args.events, args.duration)
            return
        rows = asyncio.run(measure(url, args.events, args.after_checkpoint, args.workers,
                                   args.chain_format))
        width = max(len(k) for k, _ in rows)
        print(f"| {'measure'.ljust(width)} | value |\n|{'-' * (width + 2)}|---|")
        for key, value in rows:
            print(f"| {key.ljust(width)} | {value} |")
    finally:
        if pg_url:
            asyncio.run(drop_postgres_database(POSTGRES_URL, pg_url))
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
