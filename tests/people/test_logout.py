"""``POST /auth/logout`` (spec §D): 204, and the session is revoked — its refresh tokens and its access
tokens stop working (the access token within the revocation feed's second)."""

from __future__ import annotations

from tests.people.helpers import audit_types, bearer, introspect, make_user, tokens
from tests.support import LiveServer


def test_logout_revokes_the_session(any_server: LiveServer) -> None:
    make_user(any_server, "bye@example.com")
    with any_server.client() as http:
        pair = tokens(http, "bye@example.com")
        other = tokens(http, "bye@example.com")
        resp = http.post("/auth/logout", json={"refreshToken": pair["refreshToken"]})
        assert resp.status_code == 204 and resp.content == b""
        assert http.post("/auth/refresh", json={"refreshToken": pair["refreshToken"]}).status_code == 401
        assert introspect(any_server, http, pair["accessToken"])["active"] is False
        assert http.get("/users/me", headers=bearer(pair["accessToken"])).status_code == 401
        # another sign-in of the same user lives on
        assert http.get("/users/me", headers=bearer(other["accessToken"])).status_code == 200
    assert "session.revoked" in audit_types(any_server, "session.")


def test_logout_with_an_already_rotated_token_still_ends_the_session(server: LiveServer) -> None:
    make_user(server, "rotated@example.com")
    with server.client() as http:
        first = tokens(http, "rotated@example.com")
        second = http.post("/auth/refresh", json={"refreshToken": first["refreshToken"]}).json()
        assert http.post("/auth/logout", json={"refreshToken": first["refreshToken"]}).status_code == 204
        assert http.post("/auth/refresh", json={"refreshToken": second["refreshToken"]}).status_code == 401


def test_logout_is_idempotent_and_validates_its_body(server: LiveServer) -> None:
    make_user(server, "twice@example.com")
    with server.client() as http:
        pair = tokens(http, "twice@example.com")
        assert http.post("/auth/logout", json={"refreshToken": pair["refreshToken"]}).status_code == 204
        assert http.post("/auth/logout", json={"refreshToken": pair["refreshToken"]}).status_code == 204
        assert http.post("/auth/logout", json={"refreshToken": "unknown"}).status_code == 204
        missing = http.post("/auth/logout", json={})
    assert missing.status_code == 400
    assert missing.json() == [{"loc": ["refreshToken"], "msg": "Field required", "type": "missing"}]
    assert audit_types(server, "session.revoked").count("session.revoked") == 1
