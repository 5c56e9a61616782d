"""Sessions API: ``GET /sessions`` (own; one user's or the tenant's with ``User.read``) and ``DELETE
/sessions/{id}`` (own; others' with ``User.write``) — revoking ends every token of the session."""

from __future__ import annotations

from tests.people.helpers import admin_headers, audit_types, bearer, introspect, jwt_claims, make_user, tokens
from tests.support import LiveServer
from tokensmith.clock import ManualClock


def test_users_list_and_revoke_their_own_sessions(any_server: LiveServer) -> None:
    make_user(any_server, "s@example.com")
    with any_server.client() as http:
        first = tokens(http, "s@example.com")
        second = tokens(http, "s@example.com")
        headers = bearer(second["accessToken"])
        listed = http.get("/sessions", headers=headers).json()
        first_sid = jwt_claims(first["accessToken"])["sid"]
        second_sid = jwt_claims(second["accessToken"])["sid"]
        assert {s["id"] for s in listed} == {first_sid, second_sid}
        current = next(s for s in listed if s["current"])
        assert current["id"] == second_sid and current["kind"] == "login"
        assert current["ip"] == "127.0.0.1" and current["userAgent"].startswith("python-httpx")
        assert current["expiresAt"] is not None and current["revokedAt"] is None
        assert http.delete(f"/sessions/{first_sid}", headers=headers).status_code == 204
        assert introspect(any_server, http, first["accessToken"])["active"] is False
        assert http.post("/auth/refresh", json={"refreshToken": first["refreshToken"]}).status_code == 401
        assert [s["id"] for s in http.get("/sessions", headers=headers).json()] == [second_sid]
        ended = http.get("/sessions", params={"include_ended": "true"}, headers=headers).json()
        assert {s["id"]: s["revokedReason"] for s in ended}[first_sid].startswith("revoked by user:")
    assert "session.revoked" in audit_types(any_server, "session.")


def test_other_users_sessions_need_user_permissions(server: LiveServer) -> None:
    victim = make_user(server, "victim@example.com")
    make_user(server, "peer@example.com")
    with server.client() as http:
        victim_pair = tokens(http, "victim@example.com")
        sid = jwt_claims(victim_pair["accessToken"])["sid"]
        peer = bearer(tokens(http, "peer@example.com")["accessToken"])
        assert http.delete(f"/sessions/{sid}", headers=peer).status_code == 403
        admin = admin_headers(server, http)
        by_user = http.get("/sessions", params={"user_id": victim.id}, headers=admin).json()
        assert [s["id"] for s in by_user] == [sid]
        everyone = http.get("/sessions", params={"all": "true"}, headers=admin).json()
        assert sid in {s["id"] for s in everyone} and len(everyone) >= 3
        assert http.delete(f"/sessions/{sid}", headers=admin).status_code == 204
        assert http.delete(f"/sessions/{sid}", headers=admin).status_code == 204  # idempotent
        assert http.delete("/sessions/not-a-session", headers=admin).status_code == 404
        assert http.get("/users/me", headers=bearer(victim_pair["accessToken"])).status_code == 401


def test_user_token_sessions_are_listed_and_revocable(server: LiveServer) -> None:
    make_user(server, "ut@example.com")
    with server.client() as http:
        access = tokens(http, "ut@example.com")["accessToken"]
        created = http.post("/user-tokens", json={"name": "ci"}, headers=bearer(access)).json()
        kinds = {s["id"]: s["kind"] for s in http.get("/sessions", headers=bearer(access)).json()}
        assert kinds[created["sessionId"]] == "user_token"
        assert http.delete(f"/sessions/{created['sessionId']}", headers=bearer(access)).status_code == 204
        resp = http.post("/api/user/oauth2/token", data={"grant_type": "refresh_token",
                                                         "refresh_token": created["token"]})
    assert resp.status_code == 410


def test_ended_sessions_are_purged(clocked_server: LiveServer, clock: ManualClock) -> None:
    """Idle timeout 15 days, margin 7 days: at day 22 + 1 h, what ended more than 7 days ago goes."""
    from sqlalchemy import func, select

    from tokensmith.people.sessions import purge_ended
    from tokensmith.storage.models import Session, Token

    server = clocked_server
    make_user(server, "p@example.com")
    with server.client() as http:
        ended = tokens(http, "p@example.com")
        http.post("/auth/logout", json={"refreshToken": ended["refreshToken"]})  # ended at day 0
        tokens(http, "p@example.com")  # never refreshed: idle since day 15
        live = tokens(http, "p@example.com")
        for _ in range(3):
            live = http.post("/auth/refresh", json={"refreshToken": live["refreshToken"]}).json()
        clock.advance(8 * 86400)
        live = http.post("/auth/refresh", json={"refreshToken": live["refreshToken"]}).json()
        clock.advance(14 * 86400)
        live = http.post("/auth/refresh", json={"refreshToken": live["refreshToken"]}).json()
        clock.advance(3600)
        result = server.call(lambda rt: purge_ended(rt, older_than_days=7))
        assert http.post("/auth/refresh", json={"refreshToken": live["refreshToken"]}).status_code == 200

    async def counts(rt: object) -> tuple[int, int]:
        async with rt.db.session() as session:  # type: ignore[attr-defined]
            s = (await session.execute(select(func.count()).select_from(Session))).scalar_one()
            t = (await session.execute(select(func.count()).select_from(Token).where(Token.kind == "refresh"))
                 ).scalar_one()
            return s, t

    # the logged-out and the idle session with their tokens; the live session's four day-0 tokens
    assert result == {"sessions": 2, "refreshTokens": 6, "mfaTokens": 0}
    # left: the live session, its tokens of day 8 and day 22, and the one just issued
    assert server.call(counts) == (1, 3)
