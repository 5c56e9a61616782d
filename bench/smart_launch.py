#!/usr/bin/env python3
"""Complete standalone launches per second, driven over HTTP: authorize → sign-in → consent → code →
token (bench/codeflow.py), against ``tokensmith serve`` on a fresh SQLite file (or ``--database-url``).

Two rounds, each ``--browsers`` browsers on ``--concurrency`` threads:

* ``first``: every flow is a browser's first — it signs in (argon2id) and consents;
* ``returning``: each browser runs ``--flows`` more flows with its session cookie and remembered consent
  (argon2id excluded: authorize answers with the code at once).

Printed: flows/s, the mean time of each step (seen by the client), and the server's CPU per flow (from
/proc, every process of the server). This is a benchmark, not a test.

    flock /work/wt/bench.lock .venv/bin/python bench/smart_launch.py
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from codeflow import REDIRECT_URI, Browser

PASSWORD = "bench launch passphrase 7"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tree_cpu(root: int) -> float:
    """CPU seconds (user + system) of ``root`` and its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    stats: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        stats[pid] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += stats.get(pid, 0.0)
        todo.extend(children.get(pid, []))
    return total


class Server:
    def __init__(self, exe: str, work: Path, database_url: str | None, workers: int) -> None:
        self.exe, self.work, self.workers = exe, work, workers
        self.port = _free_port()
        self.env = {**os.environ, "TOKENSMITH_ENV": "development", "TOKENSMITH_LOG_LEVEL": "WARNING",
                    "TOKENSMITH_DATABASE_URL": database_url or f"sqlite+aiosqlite:///{work}/tokensmith.db",
                    "TOKENSMITH_ISSUER": f"http://127.0.0.1:{self.port}"}
        self.proc: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str) -> dict[str, object]:
        out = subprocess.run([self.exe, *args], env=self.env, cwd=self.work, check=True, capture_output=True)
        return dict(json.loads(out.stdout)) if out.stdout.strip().startswith(b"{") else {}

    def start(self) -> None:
        log = (self.work / "serve.log").open("wb")
        self.proc = subprocess.Popen([self.exe, "serve", "--host", "127.0.0.1", "--port", str(self.port),
                                      "--workers", str(self.workers)], env=self.env, cwd=self.work,
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise SystemExit("the server did not become ready in 60 s (see serve.log)")

    def stop(self) -> None:
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)


def _round(server: Server, client: tuple[str, str], browsers: list[Browser], flows: int,
           concurrency: int) -> dict[str, object]:
    for browser in browsers:
        browser.timings.clear()
    cpu0, t0 = _tree_cpu(server.proc.pid if server.proc else 0), time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(lambda b: [b.launch() for _ in range(flows)], browsers))
    elapsed = time.perf_counter() - t0
    cpu = _tree_cpu(server.proc.pid if server.proc else 0) - cpu0
    n = flows * len(browsers)
    steps: dict[str, float] = {}
    for browser in browsers:
        for step, seconds in browser.timings.items():
            steps[step] = steps.get(step, 0.0) + seconds
    return {"flows": n, "flows_per_s": round(n / elapsed, 1), "server_cpu_ms_per_flow": round(cpu * 1000 / n, 2),
            "mean_ms_per_flow": {k: round(v * 1000 / n, 2) for k, v in steps.items()}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--browsers", type=int, default=32, help="browsers (users), one cookie jar each")
    parser.add_argument("--flows", type=int, default=20, help="returning flows per browser")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--database-url", help="instead of a fresh SQLite file (a fresh, empty database)")
    parser.add_argument("--tokensmith-bin", default=str(Path(sys.executable).parent / "tokensmith"))
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="smart-launch-"))
    server = Server(args.tokensmith_bin, work, args.database_url, args.workers)
    try:
        server.cli("init", "--json")
        out = server.cli("clients", "create", "--name", "launch-bench", "--scope", "api.read",
                         "--redirect-uri", REDIRECT_URI, "--grant", "authorization_code", "--grant", "refresh_token",
                         "--json")
        client = (str(out["client_id"]), str(out["client_secret"]))
        emails = [f"launch{i}-{secrets.token_hex(2)}@example.com" for i in range(args.browsers)]
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(lambda e: server.cli("users", "create", "--email", e, "--password", PASSWORD,
                                               "--role", "member", "--json"), emails))
        server.start()
        browsers = [Browser(f"http://127.0.0.1:{server.port}", *client, e, PASSWORD) for e in emails]
        for browser in browsers:
            browser.__enter__()
        try:
            results = {"first": _round(server, client, browsers, 1, args.concurrency),
                       "returning": _round(server, client, browsers, args.flows, args.concurrency)}
        finally:
            for browser in browsers:
                browser.__exit__()
        load = os.getloadavg()
        results["machine"] = {"cpus": os.cpu_count(), "loadavg": [round(x, 2) for x in load],
                              "workers": args.workers, "concurrency": args.concurrency,
                              "database": "sqlite" if not args.database_url else args.database_url.split(":")[0]}
        print(json.dumps(results, indent=2))
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
        return 0
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
