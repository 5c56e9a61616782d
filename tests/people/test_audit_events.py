"""Audit (issue 4 §6): sign-in succeeded/failed, lockout, refresh, reuse detected, session revoked, user
token created/used/revoked, role changed — with actor, subject and IP, and never a secret."""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.people.helpers import PASSWORD, audit_events, bearer, login, make_user, tokens
from tests.support import LiveServer


def test_people_events_are_recorded_without_secrets(server_with: Callable[..., LiveServer]) -> None:
    from tokensmith.people.users import update_user

    server = server_with(refresh_reuse_grace=0, refresh_retry_window=0)
    user = make_user(server, "audited@example.com")
    secrets_seen: list[str] = [PASSWORD]
    with server.client() as http:
        for _ in range(5):
            login(http, "audited@example.com", "wrong password!")
        login(http, "ghost@example.com", "wrong password!")
        server.call(lambda rt: rt.login_throttle.succeeded(user.id, login=False))  # lift the lockout
        pair = tokens(http, "audited@example.com")
        secrets_seen += [pair["refreshToken"], pair["accessToken"]]
        new = http.post("/auth/refresh", json={"refreshToken": pair["refreshToken"]}).json()
        secrets_seen += [new["refreshToken"], new["accessToken"]]
        http.post("/auth/refresh", json={"refreshToken": pair["refreshToken"]})  # reuse → session revoked
        access = tokens(http, "audited@example.com")["accessToken"]
        created = http.post("/user-tokens", json={"name": "n"}, headers=bearer(access)).json()
        secrets_seen.append(created["token"])
        exchanged = http.post("/api/user/oauth2/token", data={"grant_type": "refresh_token",
                                                              "refresh_token": created["token"]}).json()
        secrets_seen.append(exchanged["access_token"])
        http.delete(f"/user-tokens/{created['id']}", headers=bearer(access))
        server.call(lambda rt: update_user(rt, user.id, role="developer", actor="test"))
    events = audit_events(server)
    types = [e["type"] for e in events]
    for expected in ("login.failed", "login.locked_out", "login.succeeded", "session.refreshed",
                     "session.refresh_reuse_detected", "session.revoked", "user_token.created", "user_token.used",
                     "user_token.revoked", "user.role_changed"):
        assert expected in types, expected
    failed = [e for e in events if e["type"] == "login.failed"]
    assert {e["data"]["reason"] for e in failed} == {"wrong password", "unknown email"}
    assert all(e["ip"] == "127.0.0.1" for e in failed)
    succeeded = next(e for e in events if e["type"] == "login.succeeded")
    assert succeeded["subject"] == user.id and succeeded["tenant_id"] == server.tenant_id
    role_changed = next(e for e in events if e["type"] == "user.role_changed")
    assert role_changed["data"] == {"from_role": "member", "to_role": "developer"}
    dump = json.dumps(events)
    for secret in secrets_seen:
        assert secret not in dump
