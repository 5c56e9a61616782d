"""``tokensmith example-api``: starts the guarded API against the issuer of ``TOKENSMITH_ISSUER`` (reached at
``TOKENSMITH_GUARD_SERVICE_URL``), and refuses to start without an issuer."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.guard.helpers import bearer, cc_token, resource_server_client
from tests.support import LiveServer

TOKENSMITH = str(Path(sys.executable).parent / "tokensmith")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENSMITH_")}
    env.update(extra)
    return env


def test_the_command_serves_the_guarded_api(service: LiveServer, tmp_path: Path) -> None:
    cid, secret = resource_server_client(service)
    port = _free_port()
    proc = subprocess.Popen(
        [TOKENSMITH, "example-api", "--port", str(port), "--client-id", cid, "--client-secret", secret,
         "--database", str(tmp_path / "fhir.db")],
        env=_env(TOKENSMITH_ISSUER=service.settings.issuer, TOKENSMITH_GUARD_SERVICE_URL=service.url),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "the example API did not start"
            time.sleep(0.1)
        token = cc_token(service, ["Patient.read"])
        assert httpx.get(url + "/fhir/Patient", headers=bearer(token), timeout=5).status_code == 200
        assert httpx.get(url + "/fhir/Patient", timeout=5).status_code == 401
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=15)
    assert secret not in out + err


def test_the_command_needs_an_issuer(tmp_path: Path) -> None:
    result = subprocess.run([TOKENSMITH, "example-api"], env=_env(), capture_output=True, text=True, timeout=60,
                            cwd=tmp_path)
    assert result.returncode == 2
    assert "TOKENSMITH_ISSUER" in result.stderr
