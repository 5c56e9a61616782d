"""OAuth clients: created with the secret shown once and a "try it" snippet that works as printed, roles
and scopes no wider than the user's, rotation (with and without grace) and a confirmed disable that stops
the client's tokens."""

from __future__ import annotations

import re

from tests.console.helpers import client_as, post, secret_of
from tests.support import LiveServer


def _token(http, client_id: str, secret: str):  # type: ignore[no-untyped-def]
    return http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))


def test_a_created_client_gets_tokens_with_the_shown_secret(server: LiveServer) -> None:
    with client_as(server, "ada@example.com", "admin") as http:
        assert "No OAuth clients yet" in http.get("/console/clients").text
        created = post(http, "/console/clients", {"name": "reports", "scopes": "Patient.read", "confidential": "on",
                                                  "redirect_uris": "https://app.example/cb"})
        assert created.status_code == 200 and "shown only this once" in created.text
        secret = secret_of(created.text)
        client_id = re.search(r"client_id</th><td><code>([^<]+)</code>", created.text).group(1)  # type: ignore[union-attr]
        assert f"curl -u '{client_id}:{secret}'" in created.text
        assert server.settings.issuer.rstrip("/") + "/oauth/token" in created.text
        assert _token(http, client_id, secret).status_code == 200
        assert secret not in http.get(f"/console/clients/{client_id}").text
        assert "https://app.example/cb" in http.get(f"/console/clients/{client_id}").text


def test_bad_input_and_escalation_are_shown_next_to_the_fields(server: LiveServer) -> None:
    with client_as(server, "dev@example.com", "developer") as http:
        no_scope = post(http, "/console/clients", {"name": "x", "confidential": "on"})
        assert no_scope.status_code == 400 and 'id="e-scopes"' in no_scope.text
        bad_uri = post(http, "/console/clients", {"name": "x", "scopes": "Patient.read", "redirect_uris": "app:/cb#x"})
        assert bad_uri.status_code == 400 and 'id="e-redirect_uris"' in bad_uri.text
        admin_role = post(http, "/console/clients", {"name": "x", "role": "admin", "confidential": "on"})
        assert admin_role.status_code == 403 and "you cannot grant permissions you do not hold" in admin_role.text


def test_rotation_and_disable(server: LiveServer) -> None:
    with client_as(server, "ada@example.com", "admin") as http:
        created = post(http, "/console/clients", {"name": "svc", "scopes": "Patient.read", "confidential": "on"})
        old = secret_of(created.text)
        client_id = re.search(r"client_id</th><td><code>([^<]+)</code>", created.text).group(1)  # type: ignore[union-attr]
        graced = post(http, f"/console/clients/{client_id}/rotate", {"grace_seconds": "600"})
        new = secret_of(graced.text)
        assert _token(http, client_id, old).status_code == 200 and _token(http, client_id, new).status_code == 200
        assert "Previous secret" in graced.text
        bad = post(http, f"/console/clients/{client_id}/rotate", {"grace_seconds": "-1"})
        assert bad.status_code == 400 and 'id="e-grace_seconds"' in bad.text
        assert f'action="/console/clients/{client_id}/rotate"' in bad.text
        newest = secret_of(post(http, f"/console/clients/{client_id}/rotate", {"grace_seconds": "0"}).text)
        assert _token(http, client_id, new).status_code == 401
        assert f'href="/console/clients/{client_id}/disable"' in http.get(f"/console/clients/{client_id}").text
        confirm = http.get(f"/console/clients/{client_id}/disable").text
        assert "Disable the OAuth client svc?" in confirm and 'name="action" value="disable"' in confirm
        unticked = post(http, f"/console/clients/{client_id}/status", {"action": "disable"})
        assert unticked.status_code == 400 and 'id="e-confirm"' in unticked.text
        assert _token(http, client_id, newest).status_code == 200
        done = post(http, f"/console/clients/{client_id}/status", {"action": "disable", "confirm": "yes"})
        assert done.status_code == 303
        assert _token(http, client_id, newest).status_code == 401
        assert post(http, f"/console/clients/{client_id}/status", {"action": "enable"}).status_code == 303
        assert _token(http, client_id, newest).status_code == 200


def test_redirect_uris_are_replaced_and_checked(server: LiveServer) -> None:
    record, _ = server.create_client(name="web", scopes=["Patient.read"], redirect_uris=["https://a.example/cb"])
    with client_as(server, "ada@example.com", "admin") as http:
        path = f"/console/clients/{record.client_id}"
        bad = post(http, path + "/redirect-uris", {"redirect_uris": "https://b.example/cb#frag"})
        assert bad.status_code == 400 and 'id="e-redirect_uris"' in bad.text
        done = post(http, path + "/redirect-uris",
                    {"redirect_uris": "https://b.example/cb\r\nhttp://localhost:8080/cb"})  # as a browser posts it
        assert done.status_code == 303
        page = http.get(path).text
        assert "https://b.example/cb" in page and "http://localhost:8080/cb" in page and "a.example" not in page
    from tokensmith.clients import list_clients

    stored = next(c for c in server.call(lambda rt: list_clients(rt, server.tenant_id))
                  if c.client_id == record.client_id)
    assert stored.redirect_uris == ("https://b.example/cb", "http://localhost:8080/cb")
