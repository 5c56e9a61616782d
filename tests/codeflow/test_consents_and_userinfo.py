"""Consents are remembered per app and user (the page is skipped next time, ``prompt=consent`` asks
again), listed and withdrawn by the user (the app's refresh tokens stop working); the consent form refuses
a cross-site POST and one without the CSRF token; userinfo answers for ``openid`` tokens only."""

from __future__ import annotations

from urllib.parse import urlencode

from tests.codeflow.helpers import Flow, code_client, query_of
from tests.people.helpers import bearer, make_user, tokens
from tests.support import LiveServer


def test_a_consent_is_remembered_listed_and_withdrawn(server: LiveServer) -> None:
    make_user(server, "doc@example.com", role="developer")
    record, _ = code_client(server)
    with server.client() as http:
        flow = Flow(server, http, record.client_id)
        first = flow.exchange(flow.code("doc@example.com")).json()
        again = flow.authorize()
        assert again.status_code == 303 and "code" in query_of(again.headers["location"])  # no page this time
        assert flow.authorize(prompt="consent").status_code == 200  # asked again on request
        user_token = tokens(http, "doc@example.com")["accessToken"]
        listed = http.get("/users/me/consents", headers=bearer(user_token)).json()["consents"]
        assert [c["clientId"] for c in listed] == [record.client_id]
        assert listed[0]["scopes"] == ["openid", "profile", "Patient.read", "offline_access"]
        gone = http.delete(f"/users/me/consents/{record.client_id}", headers=bearer(user_token))
        assert gone.status_code == 204
        assert http.delete(f"/users/me/consents/{record.client_id}", headers=bearer(user_token)).status_code == 404
        assert flow.refresh(first["refresh_token"]).json()["error"] == "invalid_grant"
        assert flow.authorize().status_code == 200  # the page again


def test_the_consent_form_refuses_cross_site_and_token_less_posts(server: LiveServer) -> None:
    make_user(server, "doc@example.com", role="developer")
    record, _ = code_client(server)
    with server.client() as http:
        flow = Flow(server, http, record.client_id)
        page = flow.sign_in_from(flow.authorize(), "doc@example.com")
        assert page.status_code == 200
        request = urlencode(flow.params())
        no_token = http.post("/oauth/authorize", data={"request": request, "decision": "allow"},
                             headers={"sec-fetch-site": "same-origin"})
        assert no_token.status_code == 403 and "location" not in no_token.headers
        cross = http.post("/oauth/authorize", data={"request": request, "decision": "allow"},
                          headers={"sec-fetch-site": "cross-site"})
        assert cross.status_code == 403 and "location" not in cross.headers
        csp = page.headers["content-security-policy"]
        assert "form-action 'self' https://app.example;" in csp  # the redirect after the POST may go there


def test_userinfo_answers_openid_tokens_only(server: LiveServer) -> None:
    make_user(server, "doc@example.com", role="developer")
    record, _ = code_client(server)
    with server.client() as http:
        flow = Flow(server, http, record.client_id, scope="openid email Patient.read")
        body = flow.exchange(flow.code("doc@example.com")).json()
        info = http.get("/oauth/userinfo", headers=bearer(body["access_token"]))
        posted = http.post("/oauth/userinfo", headers=bearer(body["access_token"]))
        flow2 = Flow(server, http, record.client_id, scope="Patient.read")
        plain = flow2.exchange(flow2.code("doc@example.com")).json()
        refused = http.get("/oauth/userinfo", headers=bearer(plain["access_token"]))
        missing = http.get("/oauth/userinfo")
    assert info.status_code == 200 and posted.json() == info.json()
    assert info.json()["email"] == "doc@example.com" and info.json()["sub"]
    assert refused.status_code == 403 and refused.json()["error"] == "insufficient_scope"
    assert missing.status_code == 401
