"""What `tokensmith audit archive --prune` costs the token endpoint while it runs (issue 14), A/B in one run:

    flock /work/wt/bench.lock .venv/bin/python bench/audit_archive_load.py --events 1000000 --rate 20000 --nice 10

Seeds N valid ``exchange.issued`` events (``bench/audit.py``'s generator) and a checkpoint in a fresh
PostgreSQL database, serves tokensmith (2 workers), starts the archiver, and then alternates wrk rounds
on ``cc_jwt`` with the archiver running (SIGCONT) and paused (SIGSTOP) until it is done: the same server,
the same machine state, interleaved, so that other load on a shared machine hits both sides alike.
Per round: req/s, the server's CPU ms per request (all its processes, from /proc: robust to load), the
archiver's CPU share; the table prints the medians of each side and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support import (
    POSTGRES_URL,
    TEST_MASTER_KEY,
    asyncpg_url,
    create_postgres_database,
    drop_postgres_database,
    make_settings,
)

from audit import START, generate
from run import SCOPE_CLIENT, parse_json_output
from tokensmith.audit.checkpoints import create_checkpoint
from tokensmith.bootstrap import initialise
from tokensmith.clock import ManualClock
from tokensmith.runtime import Runtime

TICK = os.sysconf("SC_CLK_TCK")


async def seed(url: str, n: int) -> float:
    rt = Runtime(make_settings(url, audit_checkpoint_interval=0), clock=ManualClock(START + n * 0.0003 + 10))
    await initialise(rt)
    await rt.reload_keys()
    await rt.audit.flush()
    spent = await generate(rt, n)
    await create_checkpoint(rt)
    await rt.stop()
    return spent


def _ticks(pid: int) -> int:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = raw[raw.rfind(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def _tree(root: int) -> list[int]:
    """``root`` and its descendants (the server's workers)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                raw = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(raw[raw.rfind(")") + 2:].split()[1])
    found, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def _wait_until_up(timeout: float = 90.0) -> None:
    """Until the server answers (a fixed sleep is too short on a loaded machine)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen("http://127.0.0.1:18099/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.5)


def _wrk(lua: Path, seconds: int) -> tuple[float, int]:
    run = subprocess.run(["wrk", "-t2", "-c32", f"-d{seconds}s", "-s", str(lua), "http://127.0.0.1:18099/oauth/token"],
                         capture_output=True, text=True, check=True)
    rate = next(float(line.split()[-1]) for line in run.stdout.splitlines() if "Requests/sec" in line)
    done = next(int(line.split()[0]) for line in run.stdout.splitlines() if "requests in" in line)
    return rate, done


def rounds(url: str, seconds: int, rate: float, nice: int) -> dict[str, list[tuple[float, float, float]]]:
    work = Path(tempfile.mkdtemp(prefix="audit-archive-load-"))
    env = {**os.environ, "TOKENSMITH_ENV": "development", "TOKENSMITH_DATABASE_URL": url,
           "TOKENSMITH_MASTER_KEY": TEST_MASTER_KEY, "TOKENSMITH_LOG_LEVEL": "WARNING",
           "TOKENSMITH_ISSUER": "http://127.0.0.1:18099", "TOKENSMITH_AUDIT_CHECKPOINT_INTERVAL": "0",
           "TOKENSMITH_ACCESS_LOG": "false"}
    exe = str(Path(sys.executable).parent / "tokensmith")
    made = subprocess.run([exe, "clients", "create", "--name", "bench", "--scope", SCOPE_CLIENT, "--token-format",
                           "jwt", "--json"], env=env, cwd=work, capture_output=True, text=True, check=True)
    creds = parse_json_output(made.stdout)
    lua = work / "cc.lua"
    basic = base64.b64encode(f"{creds['client_id']}:{creds['client_secret']}".encode()).decode()
    lua.write_text('wrk.method = "POST"\nwrk.body = "grant_type=client_credentials"\n'
                   'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
                   f'wrk.headers["Authorization"] = "Basic {basic}"\n')
    server = subprocess.Popen([exe, "serve", "--port", "18099", "--workers", "2"], env=env, cwd=work,
                              start_new_session=True, stdout=subprocess.DEVNULL)
    out: dict[str, list[tuple[float, float, float]]] = {"running": [], "paused": []}
    archiver: subprocess.Popen[str] | None = None
    try:
        _wait_until_up()
        _wrk(lua, 5)  # warm-up
        before = datetime.fromtimestamp(time.time() + 86400 * 365 * 80, UTC).isoformat()
        archiver = subprocess.Popen([exe, "audit", "archive", "--before", before, "--to", str(work / "a.jsonl.gz"),
                                     "--prune", "--rate", str(rate), "--nice", str(nice), "--json"],
                                    env=env, cwd=work, stdout=subprocess.PIPE, text=True)
        side = "running"
        while archiver.poll() is None:
            os.kill(archiver.pid, signal.SIGCONT if side == "running" else signal.SIGSTOP)
            pids = _tree(server.pid)
            server_before, archiver_before, t = sum(map(_ticks, pids)), _ticks(archiver.pid), time.perf_counter()
            req_s, done = _wrk(lua, seconds)
            spent = time.perf_counter() - t
            server_ms = (sum(map(_ticks, pids)) - server_before) / TICK * 1000 / max(done, 1)
            archiver_share = (_ticks(archiver.pid) - archiver_before) / TICK / spent
            out[side].append((req_s, server_ms, archiver_share))
            print(f"{side:8} {req_s:8.0f} req/s {server_ms:6.3f} cpu ms/req archiver {archiver_share:5.1%} of a core "
                  f"load {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
            side = "paused" if side == "running" else "running"
        print(f"archive result: {parse_json_output(archiver.communicate()[0])}", file=sys.stderr)
        return out
    finally:
        if archiver is not None and archiver.poll() is None:
            os.kill(archiver.pid, signal.SIGCONT)
            archiver.terminate()
            archiver.wait()
        os.killpg(server.pid, signal.SIGTERM)
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=20_000, help="the archiver's --rate (events/s)")
    parser.add_argument("--nice", type=int, default=10, help="the archiver's --nice")
    parser.add_argument("--seconds", type=int, default=5, help="wrk seconds per round (and the length of a "
                        "pause: keep it under the database command timeout, 10 s, or the paused archiver times out)")
    args = parser.parse_args()
    pg_url = asyncio.run(create_postgres_database(POSTGRES_URL))
    try:
        url = asyncpg_url(pg_url)
        print(f"seeded {args.events:,} events in {asyncio.run(seed(url, args.events)):.0f} s", file=sys.stderr)
        started = time.perf_counter()
        found = rounds(url, args.seconds, args.rate, args.nice)
        wall = time.perf_counter() - started
    finally:
        asyncio.run(drop_postgres_database(POSTGRES_URL, pg_url))
    med = {side: [statistics.median(r[i] for r in found[side]) if found[side] else float("nan") for i in range(3)]
           for side in found}
    print(f"| archiver (--rate {args.rate:,.0f} --nice {args.nice}), {args.events:,} events, {wall:.0f} s in all "
          "| rounds | cc_jwt req/s (median) | server cpu ms/req | archiver cpu (share of a core) |\n"
          "|---|---|---|---|---|")
    for side in ("paused", "running"):
        rps, ms, share = med[side]
        print(f"| {side} | {len(found[side])} | {rps:,.0f} | {ms:.3f} | {share:.0%} |")
    if found["paused"] and found["running"]:
        print(f"| running / paused | | {med['running'][0] / med['paused'][0]:.3f} | "
              f"{med['running'][1] / med['paused'][1]:.3f} | |")


if __name__ == "__main__":
    main()
