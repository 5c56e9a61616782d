"""The contract other features rely on: a user's access token — the JWT of ``/auth/login`` and
``/auth/refresh`` and the opaque token of ``/api/user/oauth2/token`` — is a Bearer principal whose
permissions are the user's role, so management endpoints declare ``require("ApiKey.write")`` and the
like and nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import APIRouter, Depends

from tests.people.helpers import bearer, make_user, tokens
from tests.support import LiveServer, make_settings
from tokensmith.http.auth import Principal, require


@pytest.fixture
def guarded(sqlite_url: str) -> Iterator[LiveServer]:
    router = APIRouter()

    @router.post("/test/api-keys")
    async def create_key(principal: Principal = Depends(require("ApiKey.write"))) -> dict[str, Any]:
        return {"kind": principal.kind, "user_id": principal.user_id, "tenant": principal.tenant_id,
                "session_id": principal.session_id, "role": principal.claims.get("role"),
                "project_permissions": principal.claims.get("project_permissions")}

    live = LiveServer(make_settings(sqlite_url))
    live.app.include_router(router)
    with live:
        yield live


def test_a_users_tokens_carry_the_permissions_of_the_role(guarded: LiveServer) -> None:
    dev = make_user(guarded, "dev@example.com", role="developer", project_permissions=["x:Patient.read"])
    make_user(guarded, "member@example.com", role="member")
    with guarded.client() as http:
        dev_jwt = tokens(http, "dev@example.com")["accessToken"]
        member_jwt = tokens(http, "member@example.com")["accessToken"]
        user_token = http.post("/user-tokens", json={"name": "t"}, headers=bearer(dev_jwt)).json()["token"]
        opaque = http.post("/api/user/oauth2/token", data={"grant_type": "refresh_token",
                                                           "refresh_token": user_token}).json()["access_token"]
        by_jwt = http.post("/test/api-keys", headers=bearer(dev_jwt))
        by_opaque = http.post("/test/api-keys", headers=bearer(opaque))
        refused = http.post("/test/api-keys", headers=bearer(member_jwt))
    for resp in (by_jwt, by_opaque):
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["kind"] == "user" and body["user_id"] == dev.id and body["tenant"] == guarded.tenant_id
        assert body["role"] == "developer" and body["project_permissions"] == ["x:Patient.read"]
        assert body["session_id"]
    assert refused.status_code == 403 and refused.json()["error"] == "insufficient_scope"


def test_user_tokens_work_on_the_api_key_endpoints(server: LiveServer) -> None:
    """The real management API of another feature, with a sign-in JWT and a user token's opaque token."""
    make_user(server, "dev@example.com", role="developer")
    make_user(server, "member@example.com", role="member")
    with server.client() as http:
        dev = tokens(http, "dev@example.com")["accessToken"]
        member = tokens(http, "member@example.com")["accessToken"]
        created = http.post("/api-keys", json={"name": "k", "scopes": ["Patient.read"]}, headers=bearer(dev))
        refused = http.post("/api-keys", json={"name": "k", "scopes": ["Patient.read"]}, headers=bearer(member))
        user_token = http.post("/user-tokens", json={}, headers=bearer(dev)).json()["token"]
        opaque = http.post("/api/user/oauth2/token", data={"grant_type": "refresh_token",
                                                           "refresh_token": user_token}).json()["access_token"]
        listed = http.get("/api-keys", headers=bearer(opaque))
    assert created.status_code == 201
    assert refused.status_code == 403
    assert listed.status_code == 200 and [k["id"] for k in listed.json()] == [created.json()["id"]]
