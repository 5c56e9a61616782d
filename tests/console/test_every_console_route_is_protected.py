"""Every console route (listed from the app, so a new page is covered by itself): signed out it sends the
browser to the sign-in page; signed in, each page has the security headers and no inline script; every
POST is refused without the session's CSRF token, with a token of another session, and cross-site."""

from __future__ import annotations

import pytest

from tests.console.fixtures import console_routes, my_session_id, populate
from tests.console.helpers import SAME, assert_no_inline_code, client_as
from tests.support import LiveServer
from tests.web.helpers import csrf_of


def _assert_security_headers(resp) -> None:  # type: ignore[no-untyped-def]
    csp = resp.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert "script-src" not in csp or "script-src 'self';" in csp
    assert resp.headers["x-frame-options"] == "DENY"
    assert resp.headers["cache-control"] == "no-store"
    assert resp.headers["x-content-type-options"] == "nosniff"


def test_the_routes_are_listed(server: LiveServer) -> None:
    routes = console_routes(server)
    assert ("GET", "/console") in routes and ("POST", "/console/api-keys/{key_id}/revoke") in routes
    for route in (("GET", "/console/smart-apps/{app_id}"), ("POST", "/console/smart-apps/new"),
                  ("POST", "/console/directory/{kind}/import"), ("POST", "/console/users/{user_id}/fhir-user"),
                  ("GET", "/console/sessions/{session_id}/revoke"), ("GET", "/console/exchange-users/block")):
        assert route in routes
    assert len(routes) >= 50


def test_signed_out_every_route_leads_to_the_sign_in_page(server: LiveServer) -> None:
    ids = populate(server).ids()
    with server.client() as http:
        for method, template in console_routes(server):
            path = template.format(**ids)
            resp = http.request(method, path, headers=SAME)
            if method == "GET":
                assert resp.status_code == 303, (method, path)
                assert resp.headers["location"].startswith("/signin?next=%2Fconsole"), path
            else:  # the session is checked first: no form is read for nobody
                assert resp.status_code == 303 and resp.headers["location"].startswith("/signin"), path


def test_every_page_has_the_security_headers_and_no_inline_script(any_server: LiveServer) -> None:
    """On SQLite and PostgreSQL: every page renders with real data on both."""
    server = any_server
    ids = populate(server).ids()
    with client_as(server, "owner@example.com", "owner") as http:
        ids["my_session_id"] = my_session_id(server, "owner@example.com")
        for method, template in console_routes(server):
            if method != "GET":
                continue
            resp = http.get(template.format(**ids))
            assert resp.status_code == 200, (template, resp.text[:500])
            _assert_security_headers(resp)
            if resp.headers["content-type"].startswith("text/html"):
                assert_no_inline_code(resp.text)
                assert 'aria-label="Console"' in resp.text


@pytest.mark.parametrize("case", ["missing", "other-session", "cross-site", "foreign-origin"])
def test_every_post_is_refused_without_a_valid_token_or_from_another_site(server: LiveServer, case: str) -> None:
    ids = populate(server).ids()
    with client_as(server, "owner@example.com", "owner") as http, client_as(server, "o2@example.com", "owner") as o2:
        own = csrf_of(http.get("/console").text)
        foreign = csrf_of(o2.get("/console").text)
        for method, template in console_routes(server):
            if method != "POST":
                continue
            data = {"confirm": "yes", "name": "x", "action": "disable", "scopes_other": "Patient.read"}
            headers = dict(SAME)
            if case == "other-session":
                data["csrf_token"] = foreign
            elif case == "cross-site":
                data["csrf_token"], headers = own, {"sec-fetch-site": "cross-site"}
            elif case == "foreign-origin":
                data["csrf_token"], headers = own, {"origin": "https://evil.example"}
            resp = http.post(template.format(**ids), data=data, headers=headers)
            assert resp.status_code == 403, (case, template, resp.status_code)
            assert resp.headers["content-type"].startswith("text/html")
        # nothing was done: the key is still active, the user still enabled, the app too
        assert "active" in http.get(f"/console/api-keys/{ids['key_id']}").text
        assert "Disable the user" in http.get(f"/console/users/{ids['user_id']}").text
        assert "Disable the app" in http.get(f"/console/smart-apps/{ids['app_id']}").text


def test_a_file_upload_is_refused_without_a_valid_token_or_from_another_site(server: LiveServer) -> None:
    """The import reads a multipart body: the same refusals as a plain form, and nothing imported."""
    from tokensmith.smart.directory import list_people

    with client_as(server, "owner@example.com", "owner") as http:
        own = csrf_of(http.get("/console").text)
        file = {"file": ("p.json", b'[{"name": {"family": "Evil"}}]', "application/json")}
        for data, headers in (({}, SAME), ({"csrf_token": "forged"}, SAME),
                              ({"csrf_token": own}, {"sec-fetch-site": "cross-site"}),
                              ({"csrf_token": own}, {"origin": "https://evil.example"})):
            resp = http.post("/console/directory/patients/import", data=data, files=file, headers=headers)
            assert resp.status_code == 403, (data, headers)
        assert http.post("/console/directory/patients/import", data={"csrf_token": own}, files=file,
                         headers=SAME).status_code == 303  # the same upload with the token passes
    assert [p.family for p in server.call(lambda rt: list_people(rt, "Patient", server.tenant_id))] == ["Evil"]
