"""``tokensmith serve --workers 2``: both worker processes answer, ``/metrics`` adds up every worker
(``PROMETHEUS_MULTIPROC_DIR``), and SIGTERM stops everything cleanly."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.ops.helpers import ServeProcess


def _healthz_count(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    for family in text_string_to_metric_families(text):
        if family.name == "tokensmith_http_requests":
            return sum(s.value for s in family.samples
                       if s.name.endswith("_total") and s.labels.get("endpoint") == "/healthz")
    return 0.0


def test_two_workers_answer_and_metrics_add_up(tmp_path: Path) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    server = ServeProcess(tmp_path, workers=2, env={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)})
    with server:
        client = json.loads(server.cli("clients", "create", "--name", "w", "--scope", "api.read", "--json").stdout)

        def burst(_: int) -> int:
            # a new connection per request, so that the kernel spreads them over the workers
            with httpx.Client(base_url=server.url, timeout=10) as http:
                assert http.post("/oauth/token", data={"grant_type": "client_credentials"},
                                 auth=(client["client_id"], client["client_secret"])).status_code == 200
                return http.get("/healthz").status_code

        sent = 0
        deadline = time.monotonic() + 30
        with ThreadPoolExecutor(8) as pool:
            while True:
                assert all(status == 200 for status in pool.map(burst, range(16)))
                sent += 16
                # every worker that served a request has its own metrics file
                if len({p.name.rsplit("_", 1)[-1] for p in metrics_dir.glob("counter_*.db")}) >= 2:
                    break
                assert time.monotonic() < deadline, "only one worker ever answered"

        # whichever worker answers /metrics reports the requests of both
        assert _healthz_count(server.url) == sent
        assert _healthz_count(server.url) == sent

        assert server.stop() == 0
    logs = server.logs()
    assert "Traceback" not in logs
    assert logs.count("Application shutdown complete") == 2  # each worker shut down its runtime
