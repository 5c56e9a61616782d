"""Helpers shared by the API key and session exchange tests: an admin's Bearer token (from an admin
client's client_credentials, or a signed-in user's), key creation through HTTP, the exchange call,
audit reads and polling for cross-instance effects."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.support import LiveServer

USER = {"user_id": "doctor123", "first_name": "doctor", "last_name": "123", "organisation": "practice_name"}
FULL_USER = {**USER, "healthcare_provider_identification_number": "1-23456-78-901", "email": "doctor@123.com",
             "healthcare_provider_type": "general_practitioner"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def admin_headers(server: LiveServer, http: httpx.Client, scopes: list[str] | None = None) -> dict[str, str]:
    """A Bearer token of an admin client (client_credentials) holding ``scopes`` (default ``ApiKey.*`` and
    ``ExchangeUser.*`` plus the resource scopes the tests give keys)."""
    scopes = scopes if scopes is not None else ["ApiKey.*", "ExchangeUser.*", "Patient.*", "Observation.read"]
    record, secret = server.create_client(scopes=scopes, name="admin")
    resp = http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(record.client_id, secret))
    assert resp.status_code == 200, resp.text
    return bearer(resp.json()["access_token"])


def create_key(http: httpx.Client, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    body.setdefault("name", "Production Server")
    body.setdefault("scopes", ["Patient.read"])
    resp = http.post("/api-keys", json=body, headers=headers)
    assert resp.status_code == 201, resp.text
    created: dict[str, Any] = resp.json()
    return created


def api_key(created: dict[str, Any]) -> str:
    return f"{created['clientId']}:{created['secret']}"


def exchange(http: httpx.Client, key: str | None, body: Any = None, **kw: Any) -> httpx.Response:
    headers = dict(kw.pop("headers", {}) or {})
    if key is not None:
        headers["X-Api-Key"] = key
    if body is None:
        body = USER
    if isinstance(body, bytes | str):
        headers.setdefault("Content-Type", "application/json")
        return http.post("/api/v1/token/", content=body, headers=headers, **kw)
    return http.post("/api/v1/token/", json=body, headers=headers, **kw)


def audit_events(server: LiveServer, prefix: str = "") -> list[dict[str, Any]]:
    """The audit events written so far (the queue is flushed first), oldest first."""
    from sqlalchemy import select

    from tokensmith.storage.models import AuditEvent

    async def read(rt: Any) -> list[dict[str, Any]]:
        await rt.audit.flush()
        async with rt.db.session() as session:
            rows = (await session.execute(select(AuditEvent).order_by(AuditEvent.seq))).scalars().all()
        return [{"type": r.type, "tenant_id": r.tenant_id, "actor": r.actor, "subject": r.subject, "ip": r.ip,
                 "request_id": r.request_id, "data": r.data} for r in rows if r.type.startswith(prefix)]

    return server.call(read)


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, interval: float = 0.02) -> float:
    """Poll ``predicate`` until true; returns the seconds it took (fails the test after ``timeout``)."""
    started = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)
