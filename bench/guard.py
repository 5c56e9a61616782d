#!/usr/bin/env python3
"""Guard benchmark (not a test): the cost of :mod:`tokensmith.guard` in front of a route, same run.

    .venv/bin/python bench/guard.py                    # everything below, 3 rounds (median)
    .venv/bin/python bench/guard.py --duration 5 --repeat 1 --skip-revocation

1. Throughput of ``GET /fhir/Patient`` (``bench/guard_app.py``, one uvicorn worker each) unguarded vs guarded,
   with a reused JWT (verified-token cache hit), an API key and an opaque token (introspection cache warm):
   ``wrk -t1 -c32``; targets >= 0.6x (JWT) and >= 0.5x (API key, opaque) of the unguarded route.
2. Cold verification µs/op per algorithm (ES256, RS256, EdDSA): the guard's full path for a token it has not
   seen (header, pinned-key signature, claims, audience, revocation view, principal) next to PyJWT's raw
   ``jwt.decode`` of the same token.
3. Revocation → refused at a running guard (the example API on loopback): p50/p99/max over 100 revocations
   (``/oauth/revoke`` of a cached JWT), with one service on SQLite (HTTP feed alone), and with two instances on
   PostgreSQL + Redis, the guard following the second (with Redis, and with the HTTP feed alone).

The service runs in this process (``tests.support.LiveServer``, the test harness's loopback server).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
import jwt  # noqa: E402
from tests.guard.helpers import ExampleApi, cc_client, guard_settings, make_api_key, resource_server_client  # noqa: E402
from tests.support import LiveServer, make_settings  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def token(server: LiveServer, client: Any, secret: str) -> str:
    resp = httpx.post(server.url + "/oauth/token", data={"grant_type": "client_credentials"},
                      auth=(client.client_id, secret))
    resp.raise_for_status()
    value: str = resp.json()["access_token"]
    return value


def start_app(mode: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "bench.guard_app:create", "--port", str(port),
         "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"],
        cwd=REPO, env={**os.environ, **env, "GUARD_BENCH_MODE": mode}, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/", timeout=1)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{mode} app did not start")


def wrk(url: str, headers: dict[str, str], duration: int) -> float:
    args = ["wrk", "-t1", "-c32", f"-d{duration}s"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run([*args, url + "/fhir/Patient"], capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"non-2xx answers ({headers and next(iter(headers))}):\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert match, out
    return float(match.group(1))


def throughput(server: LiveServer, duration: int, repeat: int) -> list[str]:
    rs = resource_server_client(server)
    jwt_client, jwt_secret = cc_client(server, ["Patient.read"])
    opaque_client, opaque_secret = cc_client(server, ["Patient.read"], fmt="opaque")
    _, key = make_api_key(server, ["Patient.read"])
    credentials = {"jwt": {"Authorization": f"Bearer {token(server, jwt_client, jwt_secret)}"},
                   "api_key": {"X-API-Key": key},
                   "opaque": {"Authorization": f"Bearer {token(server, opaque_client, opaque_secret)}"}}
    env = {"TOKENSMITH_ISSUER": server.settings.issuer, "TOKENSMITH_GUARD_SERVICE_URL": server.url,
           "TOKENSMITH_GUARD_CLIENT_ID": rs[0], "TOKENSMITH_GUARD_CLIENT_SECRET": rs[1]}
    procs = []
    try:
        plain, plain_url = start_app("plain", env)
        guarded, guarded_url = start_app("guarded", env)
        procs = [plain, guarded]
        for headers in credentials.values():  # check by hand, warm the caches
            assert httpx.get(guarded_url + "/fhir/Patient", headers=headers).status_code == 200
            assert httpx.get(guarded_url + "/fhir/Patient").status_code == 401
        results: dict[str, list[float]] = {"plain": []} | {name: [] for name in credentials}
        for _ in range(repeat):
            results["plain"].append(wrk(plain_url, credentials["jwt"], duration))
            print(f"  plain: {results['plain'][-1]:,.0f} req/s", flush=True)
            for name, headers in credentials.items():
                results[name].append(wrk(guarded_url, headers, duration))
                print(f"  {name}: {results[name][-1]:,.0f} req/s", flush=True)
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
    base = statistics.median(results["plain"])
    lines = [f"unguarded route: {base:,.0f} req/s (median of {repeat})"]
    targets = {"jwt": 0.6, "api_key": 0.5, "opaque": 0.5}
    for name, target in targets.items():
        value = statistics.median(results[name])
        verdict = "ok" if value / base >= target else "BELOW TARGET"
        lines.append(f"guarded, {name:8s}: {value:,.0f} req/s = {value / base:.2f}x (target >= {target}x) {verdict}")
    return lines


def cold_verification(rounds: int = 2000) -> list[str]:
    from tokensmith.guard import Guard, GuardSettings
    from tokensmith.jose.keyring import KeyRing, generate_signing_key
    from tokensmith.jose.tokens import sign_jwt

    issuer = "https://issuer.example"
    lines = []
    for alg in ("ES256", "RS256", "EdDSA"):
        key = generate_signing_key(alg, "active")
        now = int(time.time())
        tokens = [sign_jwt({"iss": issuer, "aud": issuer, "sub": f"s{i}", "client_id": "c", "scope": "Patient.read",
                            "iat": now, "exp": now + 600, "jti": f"0190a4e4-0000-7000-8000-{i:012d}"}, key)
                  for i in range(rounds)]
        guard = Guard(GuardSettings(issuer=issuer))
        guard.jwks.ring = KeyRing(keys={key.kid: key})

        async def run_guard(guard: Guard = guard, tokens: list[str] = tokens) -> float:
            started = time.perf_counter()
            for value in tokens:
                await guard._verify_cold(value, time.time())
            return time.perf_counter() - started

        guard_s = asyncio.run(run_guard())
        started = time.perf_counter()
        for value in tokens:
            jwt.decode(value, key.public, algorithms=[alg], audience=issuer, issuer=issuer)
        pyjwt_s = time.perf_counter() - started
        lines.append(f"{alg:6s} cold verification: guard {guard_s / rounds * 1e6:7.1f} µs/op, "
                     f"PyJWT jwt.decode {pyjwt_s / rounds * 1e6:7.1f} µs/op")
    return lines


def revocation_latency(name: str, revoking: LiveServer, followed: LiveServer, redis: str | None, namespace: str,
                       workdir: Path, count: int = 100) -> str:
    extra = {"redis_url": redis, "redis_namespace": namespace} if redis else {}
    settings = guard_settings(followed, resource_server_client(revoking), feed_wait=20, staleness=60, **extra)
    client, secret = cc_client(revoking, ["Patient.read"])
    tokens = [token(revoking, client, secret) for _ in range(count)]
    latencies = []
    with ExampleApi(settings, workdir / f"{name}.db") as api, httpx.Client(base_url=api.url) as http, \
            httpx.Client(base_url=revoking.url) as service:
        if redis:
            while not (api.guard.feed and api.guard.feed.redis_subscribed):
                time.sleep(0.01)
        for value in tokens:
            assert http.get("/fhir/Patient", headers={"Authorization": f"Bearer {value}"}).status_code == 200
        for value in tokens:
            headers = {"Authorization": f"Bearer {value}"}
            assert service.post("/oauth/revoke", data={"token": value},
                                auth=(client.client_id, secret)).status_code == 200
            revoked = time.monotonic()
            while http.get("/fhir/Patient", headers=headers).status_code != 401:
                if time.monotonic() - revoked > 5:
                    raise RuntimeError("not refused within 5 s")
            latencies.append((time.monotonic() - revoked) * 1000)
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    verdict = "ok" if p99 <= 1000 else "BELOW TARGET"
    return (f"revocation -> refused, {name}: p50 {statistics.median(latencies):.0f} ms, p99 {p99:.0f} ms, "
            f"max {latencies[-1]:.0f} ms over {count} (target p99 <= 1000 ms) {verdict}")


def revocations(workdir: Path) -> list[str]:
    lines = []
    with LiveServer(make_settings(f"sqlite+aiosqlite:///{workdir}/ts.db")) as single:
        lines.append(revocation_latency("SQLite, HTTP feed", single, single, None, "tokensmith", workdir))
    import asyncio as aio

    from tests.support import POSTGRES_URL, REDIS_URL, asyncpg_url, create_postgres_database, drop_postgres_database

    from tokensmith.storage.db import Database
    from tokensmith.storage.migrate import upgrade

    url = aio.run(create_postgres_database(POSTGRES_URL))
    try:
        async def migrate() -> None:
            db = Database(make_settings(asyncpg_url(url)))
            await upgrade(db)
            await db.dispose()

        aio.run(migrate())
        namespace = f"guardbench{os.getpid()}"
        settings = make_settings(asyncpg_url(url), redis_url=REDIS_URL, redis_namespace=namespace)
        with LiveServer(settings) as first, LiveServer(settings, init=False) as second:
            second.tenant_id = first.tenant_id
            lines.append(revocation_latency("2 instances PostgreSQL+Redis, guard with Redis", first, second,
                                            REDIS_URL, namespace, workdir))
            lines.append(revocation_latency("2 instances PostgreSQL+Redis, guard on the HTTP feed alone", first,
                                            second, None, namespace, workdir))
    finally:
        aio.run(drop_postgres_database(POSTGRES_URL, url))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-revocation", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ExitStack():
        workdir = Path(tmp)
        with LiveServer(make_settings(f"sqlite+aiosqlite:///{workdir}/tp.db")) as server:
            for line in throughput(server, args.duration, args.repeat):
                print(line, flush=True)
        for line in cold_verification():
            print(line, flush=True)
        if not args.skip_revocation:
            for line in revocations(workdir):
                print(line, flush=True)


if __name__ == "__main__":
    main()
