"""Hostile or absurd form and query values give an error page or a message next to the field (4xx),
never a 5xx: numbers too long for ``int``, non-ASCII digits, dates past year 9999, unknown ids, forged
cursors."""

from __future__ import annotations

import pytest

from tests.console.fixtures import populate
from tests.console.helpers import client_as, post
from tests.support import LiveServer

HUGE = "9" * 5000
CASES = [
    ("POST", "/console/api-keys/new", {"name": "x", "scopes_other": "Patient.read", "rate_limit": HUGE}),
    ("POST", "/console/api-keys/new", {"name": "x", "scopes_other": "Patient.read", "rate_limit": "²"}),
    ("POST", "/console/api-keys/new", {"name": "x", "scopes_other": "Patient.read", "expires_at": "9999-12-31T99"}),
    ("POST", "/console/api-keys/new", {"name": "x" * 5000, "scopes_other": "Patient.read"}),
    ("POST", "/console/api-keys/{key_id}/rotate", {"grace_seconds": HUGE}),
    ("POST", "/console/clients", {"name": "x", "scopes": "Patient.read", "ttl": HUGE}),
    ("POST", "/console/clients", {"name": "x", "scopes": "Patient.read", "format": "nope"}),
    ("POST", "/console/clients", {"name": "x", "scopes": "Patient.read", "auth_method": "nope", "confidential": "on"}),
    ("POST", "/console/clients/{client_id}/rotate", {"grace_seconds": "١٢"}),
    ("POST", "/console/users", {"email": "a@b.c", "role": "no-such-role"}),
    ("POST", "/console/users/{user_id}", {"action": "role", "role": "no-such-role"}),
    ("POST", "/console/users/no-such-user", {"action": "enable"}),
    ("POST", "/console/exchange-users/block", {"user_id": "u" * 500, "confirm": "yes"}),
    ("POST", "/console/smart-apps/new", {"name": "x", "kind": "backend-service", "jwks": "[" * 20_000}),
    ("POST", "/console/smart-apps/new", {"name": "x", "kind": "backend-service", "jwks": "{" * 40_000}),
    ("POST", "/console/smart-apps/new", {"name": "x", "kind": "public", "redirect_uris": "https://" + "a" * 3000}),
    ("POST", "/console/smart-apps/new", {"name": "x", "kind": "public", "redirect_uris": "https://[::1"}),
    ("POST", "/console/smart-apps/new", {"name": "x", "kind": "backend-service", "jwks_uri": "https://[zz]/j"}),
    ("POST", "/console/smart-apps/new", {"name": "x", "kind": "backend-service", "jwks_uri": "https://k.example:99999/j"}),
    ("POST", "/console/clients", {"name": "x", "scopes": "Patient.read", "redirect_uris": "https://[::1/cb"}),
    ("POST", "/console/smart-apps/new", {"name": "x", "kind": "public", "redirect_uris": "https://a.example/cb",
                                         "scopes": "patient/" + "x" * 600}),
    ("POST", "/console/smart-apps/{app_id}/rotate", {"grace_seconds": HUGE}),
    ("POST", "/console/smart-apps/{app_id}/keys", {"jwks": "{}"}),
    ("POST", "/console/smart-apps/{app_id}/edit", {"name": "x", "redirect_uris": "https://a.example/\n" * 30}),
    ("GET", "/console/smart-apps/no-such-app", {}),
    ("POST", "/console/directory/patients", {"family": "x", "birth_date": "9999-99-99"}),
    ("POST", "/console/directory/patients", {"given": "a " * 300, "family": "x"}),
    ("POST", "/console/directory/patients", {"family": "x", "person_id": "p" * 100}),
    ("POST", "/console/users/{user_id}/fhir-user", {"fhir_user": "Patient/" + "x" * 500}),
    ("GET", "/console/directory/nowhere", {}),
    ("GET", "/console/directory/patients?offset=" + HUGE, {}),
    ("GET", "/console/directory/patients?q=" + "%25_" * 300, {}),
    ("POST", "/console/signing-keys/no-such-kid/revoke", {"confirm": "yes"}),
    ("GET", "/console/audit?to=9999-12-31", {}),
    ("GET", "/console/audit?cursor=abc", {}),
    ("GET", "/console/audit?type=" + "t" * 100, {}),
    ("GET", "/console/audit.csv?to=9999-12-31", {}),
    ("GET", "/console/api-keys/no-such-key", {}),
    ("GET", "/console/exchange-users?offset=" + HUGE, {}),
    ("GET", "/console/api-keys?page=" + HUGE, {}),
]


@pytest.mark.parametrize(("method", "path", "data"), CASES, ids=[f"{m} {p[:50]} {sorted(d)}" for m, p, d in CASES])
def test_no_input_makes_a_5xx(server: LiveServer, method: str, path: str, data: dict[str, str]) -> None:
    ids = populate(server).ids()
    with client_as(server, "own@example.com", "owner") as http:
        url = path.format(**ids)
        resp = post(http, url, data) if method == "POST" else http.get(url)
    assert resp.status_code < 500, resp.text[:300]
    if path.startswith(("/console/exchange-users?", "/console/api-keys?", "/console/directory/patients?")):
        assert resp.status_code == 200  # out of range: the first page
    else:
        assert 400 <= resp.status_code < 500
    assert resp.headers["content-type"].startswith("text/html")
