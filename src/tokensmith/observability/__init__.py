"""Logs (structured JSON with a request id, no secrets) and Prometheus metrics."""
