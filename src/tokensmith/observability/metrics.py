"""Prometheus metrics. With several worker processes (``serve --workers N``) the parent sets
``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` aggregates every worker."""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

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
        # Background writers (storage/flusher.py): with several workers, 1 when any live worker's is stalled.
        self.writer_stalled = Gauge("tokensmith_writer_stalled", "1 while a background writer is stalled",
                                    ["writer"], registry=r, multiprocess_mode="livemax")
        self.dead_letters = Counter("tokensmith_writer_dead_letters_total",
                                    "Rows a background writer could not write and set aside", ["writer"],
                                    registry=r)
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}

    def child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, memoised: prometheus_client's own lookup (argument checks, a lock)
        costs more than the increment on the hot path. Label values are bounded (endpoints, grants,
        clients); the memo is dropped wholesale if it ever grows past that."""
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            if len(self._children) > 10_000:
                self._children.clear()
            found = self._children[key] = metric.labels(*labels)
        return found

    def render(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            # prometheus_client: MultiProcessCollector.__init__ lacks annotations
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)
