"""Prometheus metrics. With several worker processes (``serve --workers N``) the parent sets
``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` aggregates every worker."""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("tokensmith_http_requests_total", "HTTP requests", ["endpoint", "method", "status"],
                                registry=r)
        self.latency = Histogram("tokensmith_http_request_duration_seconds", "HTTP request latency",
                                 ["endpoint"], buckets=LATENCY_BUCKETS, registry=r)
        self.tokens_issued = Counter("tokensmith_tokens_issued_total", "Tokens issued", ["grant", "client"],
                                     registry=r)
        self.auth_failures = Counter("tokensmith_auth_failures_total", "Failed authentications", ["kind"],
                                     registry=r)
        self.revocations = Counter("tokensmith_revocations_total", "Revocations", ["kind"], registry=r)
        self.rate_limited = Counter("tokensmith_rate_limited_total", "Requests refused by a rate limit",
                                    ["kind"], registry=r)

    def render(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)
