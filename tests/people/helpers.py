"""Helpers for the people tests: users made through the service layer, sign-in through HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support import LiveServer

PASSWORD = "correct horse battery staple"


def make_user(server: LiveServer, email: str, *, password: str | None = PASSWORD, role: str = "member",
              project_permissions: list[str] | None = None, tenant_id: str | None = None) -> Any:
    from tokensmith.people.users import create_user

    return server.call(lambda rt: create_user(rt, tenant_id=tenant_id or server.tenant_id, email=email,
                                              password=password, role=role,
                                              project_permissions=project_permissions, actor="test"))


def login(http: httpx.Client, email: str, password: str = PASSWORD, **kw: Any) -> httpx.Response:
    return http.post("/auth/login", json={"email": email, "password": password}, **kw)


def tokens(http: httpx.Client, email: str, password: str = PASSWORD) -> dict[str, Any]:
    resp = login(http, email, password)
    assert resp.status_code == 200, resp.text
    return resp.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def admin_headers(server: LiveServer, http: httpx.Client, email: str = "admin@example.com",
                  role: str = "admin") -> dict[str, str]:
    make_user(server, email, role=role)
    return bearer(tokens(http, email)["accessToken"])


def introspect(server: LiveServer, http: httpx.Client, token: str, **form: str) -> dict[str, Any]:
    """Introspect with a freshly created confidential client of the same tenant."""
    if not hasattr(server, "_introspection_client"):
        record, secret = server.create_client(name="introspector", scopes=["api.read"])
        server._introspection_client = (record.client_id, secret)  # type: ignore[attr-defined]
    cid, secret = server._introspection_client  # type: ignore[attr-defined]
    resp = http.post("/oauth/introspect", data={"token": token, **form}, auth=(cid, secret))
    assert resp.status_code == 200, resp.text
    return resp.json()


def audit_events(server: LiveServer, prefix: str = "") -> list[dict[str, Any]]:
    """The audit events written so far (flushed first), oldest first."""
    from sqlalchemy import select

    from tokensmith.storage.models import AuditEvent

    async def read(rt: Any) -> list[dict[str, Any]]:
        await rt.audit.flush()
        async with rt.db.session() as session:
            rows = (await session.execute(select(AuditEvent).order_by(AuditEvent.seq))).scalars().all()
            return [{"type": r.type, "tenant_id": r.tenant_id, "actor": r.actor, "subject": r.subject, "ip": r.ip,
                     "data": dict(r.data or {})} for r in rows if r.type.startswith(prefix)]

    return server.call(read)


def audit_types(server: LiveServer, prefix: str = "") -> list[str]:
    return [e["type"] for e in audit_events(server, prefix)]


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, without verification (the tests verify separately where it matters)."""
    import base64
    import json

    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def user_row(server: LiveServer, email: str) -> Any:
    from sqlalchemy import select

    from tokensmith.storage.models import User

    async def read(rt: Any) -> Any:
        async with rt.db.session() as session:
            return (await session.execute(select(User).where(User.email == email))).scalar_one()

    return server.call(read)
