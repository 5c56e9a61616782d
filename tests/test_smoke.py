"""The shortest end-to-end path: a client gets a token and introspection reports it active."""

from __future__ import annotations

from tests.support import LiveServer


def test_client_credentials_token_is_introspected_active(any_server: LiveServer) -> None:
    record, secret = any_server.create_client(scopes=["api.read"])
    with any_server.client() as http:
        resp = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                         auth=(record.client_id, secret))
        assert resp.status_code == 200, resp.text
        token = resp.json()["access_token"]
        info = http.post("/oauth/introspect", data={"token": token}, auth=(record.client_id, secret)).json()
    assert info["active"] is True
    assert info["client_id"] == record.client_id
    assert info["scope"] == "api.read"
