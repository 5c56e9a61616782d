"""Every response that handed out a credential has its audit event after ``kill -9`` and a restart: the
real ``tokensmith serve`` spools each event before the response leaves; a process killed before its
batch write loses nothing, ``audit verify`` reports the missing events until the next start replays
them, once (a second restart adds no duplicate)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx

from tests.ops.helpers import TOKENSMITH, ServeProcess

N = 25
FORM = {"grant_type": "client_credentials"}


def _cli(server: ServeProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TOKENSMITH, *args], cwd=server.workdir, env=server.env, capture_output=True, text=True,
                          timeout=60)


def _issued(server: ServeProcess) -> list[dict[str, object]]:
    out = _cli(server, "audit", "export", "--type", "token.issued")
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_token_events_survive_kill_9_and_are_replayed_once(tmp_path: Path) -> None:
    # A long flush interval: nothing of the traffic is written before the kill.
    server = ServeProcess(tmp_path, env={"TOKENSMITH_AUDIT_FLUSH_INTERVAL": "600"})
    server.cli("init")
    client = json.loads(server.cli("clients", "create", "--name", "svc", "--scope", "api.read", "--json").stdout)
    server.start()
    assert server.proc is not None
    request_ids = []
    with httpx.Client(base_url=server.url, timeout=10) as http:
        for i in range(N):
            resp = http.post("/oauth/token", data=FORM, auth=(client["client_id"], client["client_secret"]),
                             headers={"X-Request-ID": f"crash-{i}"})
            assert resp.status_code == 200, resp.text
            request_ids.append(f"crash-{i}")
    server.proc.kill()  # SIGKILL right after the responses
    server.proc.wait(10)
    assert _issued(server) == []  # nothing was written before the kill
    assert list((tmp_path / "audit-spool").glob("*/audit-*.spool"))

    # Before the restart, verify reports the events recorded but never written and fails.
    verdict = _cli(server, "audit", "verify", "--json")
    assert verdict.returncode == 1, verdict.stdout + verdict.stderr
    report = json.loads(verdict.stdout)
    assert report["chain_ok"] is True and report["unwritten"]["crashed"] == N
    assert "events recorded but not written: 25" in _cli(server, "audit", "verify").stdout

    server.env["TOKENSMITH_AUDIT_FLUSH_INTERVAL"] = "0.05"
    server.start()
    deadline = time.monotonic() + 20
    while len(events := _issued(server)) < N:
        assert time.monotonic() < deadline, f"only {len(events)} of {N} events replayed"
        time.sleep(0.2)
    assert server.stop() == 0
    assert sorted(e["request_id"] for e in events) == sorted(request_ids)  # type: ignore[type-var]

    verdict = _cli(server, "audit", "verify", "--json")
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr
    assert json.loads(verdict.stdout)["unwritten"]["missing"] == 0

    # A second restart replays nothing again.
    server.start()
    time.sleep(0.5)
    assert server.stop() == 0
    again = _issued(server)
    assert len(again) == N and len({e["id"] for e in again}) == N
    assert _cli(server, "audit", "verify").returncode == 0
    assert not list((tmp_path / "audit-spool").glob("*/audit-*.spool"))  # replayed segments are deleted
