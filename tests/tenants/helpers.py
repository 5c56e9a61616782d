"""Helpers for the tenant tests: a platform operator (owner of the platform tenant) and tenants created
through ``POST /tenants``, each with its first admin signed in."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.people.helpers import PASSWORD, bearer, make_user, tokens
from tests.support import LiveServer


def operator(server: LiveServer, http: httpx.Client, email: str = "operator@example.com") -> dict[str, str]:
    make_user(server, email, role="owner")
    return bearer(tokens(http, email)["accessToken"])


def new_tenant(http: httpx.Client, op: dict[str, str], slug: str, **extra: Any) -> dict[str, Any]:
    body = {"slug": slug, "name": f"Tenant {slug}", "adminEmail": f"admin@{slug}.example",
            "adminPassword": PASSWORD, **extra}
    resp = http.post("/tenants", json=body, headers=op)
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


def tenant_admin(http: httpx.Client, slug: str) -> dict[str, str]:
    return bearer(tokens(http, f"admin@{slug}.example")["accessToken"])


def wait_until(check: Callable[[], bool], timeout: float = 1.0) -> float:
    """Seconds until ``check()`` held; fails after ``timeout``."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(0.02)
    return time.monotonic() - start
