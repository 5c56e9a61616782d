"""``tokensmith serve`` as a real subprocess on a free loopback port, with its logs kept in a file."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support import TEST_MASTER_KEY

TOKENSMITH = str(Path(sys.executable).parent / "tokensmith")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServeProcess:
    def __init__(self, workdir: Path, *, workers: int = 1, env: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.log_path = workdir / "serve.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("TOKENSMITH_", "PROMETHEUS_"))}
        self.env.update(TOKENSMITH_ENV="development", TOKENSMITH_MASTER_KEY=TEST_MASTER_KEY,
                        TOKENSMITH_DATABASE_URL=f"sqlite+aiosqlite:///{workdir}/t.db",
                        TOKENSMITH_ISSUER=self.url)
        self.env.update(env or {})
        self.proc: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run another ``tokensmith`` command on the same database (and keep its logs with the server's)."""
        proc = subprocess.run([TOKENSMITH, *args], cwd=self.workdir, env=self.env, capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0, proc.stderr
        with self.log_path.open("a") as log:  # its logs count as logs too
            log.write(proc.stderr)
        return proc

    def start(self, timeout: float = 60, until: str = "/readyz") -> ServeProcess:
        """Start and wait until ``until`` answers 200. ``serve`` runs in a process group of its own (with
        ``--workers N`` uvicorn's workers are its children): a start that fails in any way (exited early,
        not ready in time, interrupted) kills the whole group, so no worker is left running."""
        with self.log_path.open("ab") as log:  # the child writes through its own copy of the descriptor
            self.proc = subprocess.Popen([TOKENSMITH, "serve", "--port", str(self.port), "--workers",
                                          str(self.workers)], cwd=self.workdir, env=self.env, stdout=log, stderr=log,
                                         start_new_session=True)
        started = False
        try:
            deadline = time.monotonic() + timeout
            while True:
                assert self.proc.poll() is None, f"serve exited early:\n{self.logs()}"
                try:
                    if httpx.get(f"{self.url}{until}", timeout=2).status_code == 200:
                        started = True
                        return self
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, f"serve did not become ready:\n{self.logs()}"
                time.sleep(0.2)
        finally:
            if not started:
                self.kill()

    def kill(self) -> None:
        """SIGKILL to the process group of ``serve`` (the supervisor and every worker), then reap it."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # the group is gone already
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then wait for a clean exit; returns the exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"serve did not stop on SIGTERM within {timeout}s:\n{self.logs()}") from None
        return self.proc.returncode

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def json_lines(self) -> list[dict[str, Any]]:
        """Every JSON log line (the banner printed at start-up is plain text)."""
        return [json.loads(line) for line in self.logs().splitlines() if line.startswith("{")]

    def __enter__(self) -> ServeProcess:
        return self if self.proc is not None else self.start()

    def __exit__(self, *exc: Any) -> None:
        self.kill()  # whatever is left of the group: a supervisor that did not stop, a worker it left behind
