#!/usr/bin/env python3
"""SDK benchmark (issue 11's target): 1,000 concurrent requests through one client holding an expired
token cause exactly 1 token request.

Starts ``tokensmith serve`` (SQLite in a temp dir, one worker, its own process group, killed at the end),
creates a client with ``tokensmith clients create``, and drives ``GET /api-keys`` through
``tokensmith.client.ClientCredentialsAuth``:

* ``async``: 1,000 tasks on one ``httpx.AsyncClient``;
* ``threads``: 1,000 requests from ``--threads`` (32) threads on one ``httpx.Client``.

For each, the SDK first gets a token, then its injected clock jumps past the token's expiry, then all
requests start at once. Token requests are counted twice: by a counting transport in front of the SDK's
token requests, and at the server (``tokensmith_http_requests_total`` for ``/oauth/token`` in
``/metrics``). Each mode is then run again with the token still valid, in the same run, as the reference
for the cost of the refresh (the ratio printed). Exit status 1 when a count is not exactly 1 or any API
request failed.

    .venv/bin/python bench/sdk_single_flight.py
    .venv/bin/python bench/sdk_single_flight.py --requests 1000 --threads 32 --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tokensmith.client import ClientCredentialsAuth, Options

VENV_BIN = Path(sys.executable).parent
LIFETIME = 600


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class Counting(httpx.BaseTransport):
    def __init__(self) -> None:
        self.inner, self.paths, self.lock = httpx.HTTPTransport(), Counter[str](), threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.paths[request.url.path] += 1
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


class AsyncCounting(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.inner, self.paths = httpx.AsyncHTTPTransport(), Counter[str]()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths[request.url.path] += 1
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_token_requests(url: str) -> int:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    pattern = re.compile(r'^tokensmith_http_requests_total\{[^}]*endpoint="/oauth/token"[^}]*\} ([0-9.e+]+)$', re.M)
    return int(sum(float(m) for m in pattern.findall(text)))


def run_async(url: str, client_id: str, secret: str, n: int, expire: bool) -> dict[str, object]:
    async def main() -> dict[str, object]:
        clock, counted = Clock(), AsyncCounting()
        auth = ClientCredentialsAuth(issuer=url, client_id=client_id, client_secret=secret,
                                     token_url=f"{url}/oauth/token",
                                     options=Options(clock=clock, async_transport=counted))
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with auth, httpx.AsyncClient(base_url=url, auth=auth, limits=limits, timeout=60) as api:
            await auth.atoken()
            if expire:
                clock.now += LIFETIME + 1
            before = server_token_requests(url)
            started = time.perf_counter()
            responses = await asyncio.gather(*(api.get("/api-keys") for _ in range(n)))
            elapsed = time.perf_counter() - started
            return {"sdk_token_requests": counted.paths["/oauth/token"] - 1,
                    "server_token_requests": server_token_requests(url) - before,
                    "statuses": dict(Counter(r.status_code for r in responses)), "seconds": round(elapsed, 3)}

    return asyncio.run(main())


def run_threads(url: str, client_id: str, secret: str, n: int, threads: int, expire: bool) -> dict[str, object]:
    clock, counted = Clock(), Counting()
    auth = ClientCredentialsAuth(issuer=url, client_id=client_id, client_secret=secret,
                                 token_url=f"{url}/oauth/token", options=Options(clock=clock, transport=counted))
    limits = httpx.Limits(max_connections=threads, max_keepalive_connections=threads)
    with auth, httpx.Client(base_url=url, auth=auth, limits=limits, timeout=60) as api:
        auth.token()
        if expire:
            clock.now += LIFETIME + 1
        before = server_token_requests(url)
        start = threading.Barrier(threads)

        def worker(count: int) -> list[int]:
            start.wait()
            return [api.get("/api-keys").status_code for _ in range(count)]

        shares = [n // threads + (1 if i < n % threads else 0) for i in range(threads)]
        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            statuses = [s for chunk in pool.map(worker, shares) for s in chunk]
        elapsed = time.perf_counter() - started
        return {"sdk_token_requests": counted.paths["/oauth/token"] - 1,
                "server_token_requests": server_token_requests(url) - before,
                "statuses": dict(Counter(statuses)), "seconds": round(elapsed, 3)}


def cli(env: dict[str, str], work: Path, *args: str) -> dict[str, object]:
    out = subprocess.run([str(VENV_BIN / "tokensmith"), *args], env=env, cwd=work, capture_output=True, text=True,
                         check=True, timeout=180, stdin=subprocess.DEVNULL).stdout
    parsed: dict[str, object] = json.loads(out)
    return parsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--json", type=Path, help="write the results to this file too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sdk-bench-") as tmp:
        work, port = Path(tmp), free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "TOKENSMITH_ENV": "development", "TOKENSMITH_ISSUER": url,
               "TOKENSMITH_LOG_LEVEL": "WARNING", "TOKENSMITH_DATABASE_URL": f"sqlite+aiosqlite:///{work / 'bench.db'}"}
        cli(env, work, "init", "--json")
        client = cli(env, work, "clients", "create", "--name", "sdk-bench", "--scope", "ApiKey.read",
                     "--lifetime", str(LIFETIME), "--json")
        client_id, secret = str(client["client_id"]), str(client["client_secret"])
        log = open(work / "server.log", "wb")
        server = subprocess.Popen([str(VENV_BIN / "tokensmith"), "serve", "--host", "127.0.0.1", "--port", str(port)],
                                  env=env, cwd=work, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    print((work / "server.log").read_text()[-2000:], file=sys.stderr)
                    return 2
                time.sleep(0.2)
            results = {
                "async_expired": run_async(url, client_id, secret, args.requests, expire=True),
                "async_valid": run_async(url, client_id, secret, args.requests, expire=False),
                "threads_expired": run_threads(url, client_id, secret, args.requests, args.threads, expire=True),
                "threads_valid": run_threads(url, client_id, secret, args.requests, args.threads, expire=False),
            }
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=5)
            log.close()
    ok = True
    print(f"{'case':<18}{'requests':>9}{'200s':>7}{'token req (SDK)':>17}{'token req (server)':>20}{'seconds':>9}")
    for name, r in results.items():
        statuses = r["statuses"]
        assert isinstance(statuses, dict)
        expected = 1 if name.endswith("expired") else 0
        ok &= statuses == {200: args.requests} and r["sdk_token_requests"] == r["server_token_requests"] == expected
        print(f"{name:<18}{args.requests:>9}{statuses.get(200, 0):>7}{r['sdk_token_requests']:>17}"
              f"{r['server_token_requests']:>20}{r['seconds']:>9}")
    for mode in ("async", "threads"):
        ratio = float(results[f"{mode}_valid"]["seconds"]) / float(results[f"{mode}_expired"]["seconds"])  # type: ignore[arg-type]
        print(f"{mode}: throughput with the expired token / with a valid one = {ratio:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print("target (exactly 1 token request for 1,000 concurrent requests with an expired token):",
          "met" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
