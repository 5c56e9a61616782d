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
