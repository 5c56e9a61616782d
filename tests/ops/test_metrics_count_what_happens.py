"""``/metrics`` (Prometheus text): requests and latency per endpoint, tokens issued per grant and client,
authentication failures, revocations — each counter moves when the thing it counts happens, and
endpoint labels never take raw paths (bounded cardinality)."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support import LiveServer

FORM = {"grant_type": "client_credentials"}


def _samples(http: httpx.Client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    resp = http.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(resp.text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def _value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_counters_move(server: LiveServer) -> None:
    record, secret = server.create_client(scopes=["api.read"])
    cid = record.client_id
    with server.client() as http:
        before = _samples(http)
        token = http.post("/oauth/token", data=FORM, auth=(cid, secret)).json()["access_token"]
        http.post("/oauth/token", data=FORM, auth=(cid, secret))
        assert http.post("/oauth/token", data=FORM, auth=(cid, "wrong")).status_code == 401
        assert http.post("/oauth/revoke", data={"token": token}, auth=(cid, secret)).status_code == 200
        http.get("/no/such/path/9f8e7d")
        http.get("/healthz")
        after = _samples(http)

    def delta(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert delta("tokensmith_tokens_issued_total", grant="client_credentials", client=cid) == 2
    assert delta("tokensmith_auth_failures_total", kind="client") == 1
    assert delta("tokensmith_revocations_total", kind="access_token") == 1
    assert delta("tokensmith_http_requests_total", endpoint="/oauth/token", method="POST", status="200") == 2
    assert delta("tokensmith_http_requests_total", endpoint="/oauth/token", method="POST", status="401") == 1
    assert delta("tokensmith_http_requests_total", endpoint="/oauth/revoke", method="POST", status="200") == 1
    assert delta("tokensmith_http_requests_total", endpoint="/healthz", method="GET", status="200") == 1
    assert delta("tokensmith_http_request_duration_seconds_count", endpoint="/oauth/token") == 3
    assert delta("tokensmith_http_request_duration_seconds_sum", endpoint="/oauth/token") > 0
    # an unknown path is counted under one label, never under its own
    assert delta("tokensmith_http_requests_total", endpoint="unmatched", method="GET", status="404") == 1
    assert not any("9f8e7d" in str(labels) for _, labels in after)
