"""Schemathesis against the served OpenAPI description, over HTTP on loopback, on SQLite and PostgreSQL:
its examples, coverage and fuzzing phases (U+0000 included in generated strings) must find no response
of 500 or above. Every operation is called with the credentials it needs (an owner's Bearer token for
the management API, an API key for the session exchange, a confidential client's HTTP Basic credentials
for the OAuth endpoints), so the generated inputs reach the handlers instead of stopping at a 401.

The operations are fuzzed in two halves of about the same size, each a test of its own, so that the
suite's workers run them side by side. The run is deterministic (fixed seed, no example database): a
failure in CI reproduces locally with the same command. Its size is ``TOKENSMITH_FUZZ_EXAMPLES``
examples per operation and phase (default 30, a few thousand requests per database in about two
minutes); ``TOKENSMITH_FUZZ_EXAMPLES=1000`` is a long local run. ``TOKENSMITH_FUZZ_SEED`` changes the
seed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.apikeys.helpers import api_key, create_key
from tests.people.helpers import make_user, tokens
from tests.support import LiveServer, make_settings

ST = [sys.executable, "-m", "tests.fuzz.st_runner"]
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("TOKENSMITH_FUZZ_EXAMPLES", "30"))
SEED = int(os.environ.get("TOKENSMITH_FUZZ_SEED", "20261202"))
MANAGEMENT = (r"^/(api-keys|users|roles|sessions|user-tokens|exchange-users|audit-events|auth/totp"
              r"|smart/(apps|patients|practitioners|launch))")
OAUTH = r"^/(oauth/|identity-server/|smart/token)"
#: the first half: people, API keys, tenants and sign-in (39 operations); the second is everything else
#: (SMART, OAuth, the session exchange, discovery, probes: 34)
FIRST_HALF = r"^/(users|roles|sessions|user-tokens|exchange-users|api-keys|tenants|auth/)"
HALVES = {"people-keys-tenants": ["--include-path-regex", FIRST_HALF],
          "smart-oauth-exchange": ["--exclude-path-regex", FIRST_HALF]}


def _config(bearer: str, key: str, client_id: str, secret: str) -> str:
    return f"""
[[operations]]
include-path-regex = '{MANAGEMENT}'
headers = {{ Authorization = "Bearer {bearer}" }}

[[operations]]
include-path-regex = '^/api/v1/token'
headers = {{ X-Api-Key = "{key}" }}

[[operations]]
include-path-regex = '{OAUTH}'
auth = {{ basic = {{ username = "{client_id}", password = "{secret}" }} }}
"""


def _run(server: LiveServer, workdir: Path, config: str, half: list[str]) -> subprocess.CompletedProcess[str]:
    (workdir / "schemathesis.toml").write_text(config)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEMATHESIS_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return subprocess.run(
        [*ST, "--config-file", str(workdir / "schemathesis.toml"), "--no-color", "run", f"{server.url}/openapi.json",
         "--phases", "examples,coverage,fuzzing", "--checks", "not_a_server_error", "--max-examples", str(EXAMPLES),
         "--seed", str(SEED), "--generation-database", "none", "--generation-allow-x00", "true",
         "--workers", "2", "--request-timeout", "30", "--exclude-path", "/metrics", *half,
         "--report", "junit", "--report-dir", str(workdir / "report")],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=1200)


@pytest.mark.parametrize("half", sorted(HALVES))
def test_fuzzing_the_openapi_finds_no_server_error(database_url: str, tmp_path: Path, half: str) -> None:
    settings = make_settings(database_url, log_level="WARNING", login_ip_failures_per_minute=1_000_000)
    with LiveServer(settings) as server, server.client() as http:
        make_user(server, "owner@example.com", role="owner")
        bearer = tokens(http, "owner@example.com")["accessToken"]
        key = api_key(create_key(http, {"Authorization": f"Bearer {bearer}"}, scopes=["Patient.read"]))
        record, secret = server.create_client(scopes=["api.read"], name="fuzz-client")
        proc = _run(server, tmp_path, _config(bearer, key, record.client_id, secret or ""), HALVES[half])
        served = _served(server)
    output = proc.stdout + proc.stderr
    print(output[-3000:], served)  # shown with -s or on failure
    assert proc.returncode == 0, output[-20_000:]
    assert served.get("5xx", 0) == 0, served
    assert served["total"] >= 1000, (served, output[-5000:])  # a run of thousands, not a handful


def _served(server: LiveServer) -> dict[str, Any]:
    """Requests the server answered, by status class (from its own metrics, not the fuzzer's report)."""
    counts: dict[str, Any] = {"total": 0}
    for metric in server.runtime.metrics.requests.collect():
        for sample in metric.samples:
            if not sample.name.endswith("_total"):
                continue
            klass = sample.labels.get("status", "0")[0] + "xx"
            counts[klass] = counts.get(klass, 0) + int(sample.value)
            counts["total"] += int(sample.value)
    return counts
