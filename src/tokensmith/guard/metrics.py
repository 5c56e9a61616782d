"""The guard's Prometheus metrics, in a registry of its own (a guard lives inside another application,
which may have its own default registry)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


class GuardMetrics:
    def __init__(self, feed_age: Callable[[], float], failing_closed: Callable[[], float]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._decisions = Counter("tokensmith_guard_requests_total", "Requests judged by the guard",
                                  ["credential", "outcome"], registry=self.registry)
        self.jwks_fetches = Counter("tokensmith_guard_jwks_fetches_total", "JWKS fetches", registry=self.registry)
        self.introspections = Counter("tokensmith_guard_introspections_total", "Introspection requests sent",
                                      registry=self.registry)
        age = Gauge("tokensmith_guard_feed_age_seconds", "Seconds since the revocation feed last answered "
                    "(-1: never)", registry=self.registry)
        age.set_function(feed_age)
        closed = Gauge("tokensmith_guard_failing_closed", "1 while the guard refuses every request because its "
                       "revocation feed is stale", registry=self.registry)
        closed.set_function(failing_closed)
        self._children: dict[tuple[str, str], Counter] = {}

    def decision(self, credential: str, outcome: str) -> None:
        child = self._children.get((credential, outcome))
        if child is None:
            child = self._children[(credential, outcome)] = self._decisions.labels(credential, outcome)
        child.inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
