"""The authorization endpoint's errors (RFC 6749 §4.1.2.1): an unknown client or a redirect URI that is
not registered exactly is the error page and never a redirect; every later error goes back to the app
with ``error``, ``state`` and ``iss`` (RFC 9207). PKCE S256 is required, ``plain`` refused."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.codeflow.helpers import REDIRECT, Flow, code_client, query_of
from tests.people.helpers import make_user
from tests.support import LiveServer
from tokensmith.codeflow.launch import NoLaunchContext


@pytest.fixture
def app(server: LiveServer) -> Iterator[tuple[LiveServer, str]]:
    make_user(server, "doc@example.com", role="developer")
    record, _ = code_client(server)
    yield server, record.client_id


def _page_error(resp: httpx.Response, text: str) -> None:
    assert resp.status_code == 400, resp.text
    assert "location" not in resp.headers
    assert resp.headers["content-type"].startswith("text/html")
    assert text in resp.text


@pytest.mark.parametrize("change, text", [
    ({"client_id": "no-such-client"}, "not known here"),
    ({"client_id": None}, "client_id is missing"),
    ({"redirect_uri": "https://app.example/callback/"}, "has not registered"),
    ({"redirect_uri": "https://evil.example/callback"}, "has not registered"),
    ({"redirect_uri": REDIRECT + "?x=1"}, "has not registered"),
])
def test_client_and_redirect_uri_errors_are_shown_never_redirected(app: tuple[LiveServer, str],
                                                                   change: dict[str, str | None], text: str) -> None:
    server, client_id = app
    with server.client() as http:
        resp = Flow(server, http, client_id).authorize(**change)
    _page_error(resp, text)


def test_a_disabled_client_and_a_repeated_client_id_are_page_errors(app: tuple[LiveServer, str]) -> None:
    from tokensmith.clients import set_client_status

    server, client_id = app
    with server.client() as http:
        flow = Flow(server, http, client_id)
        repeated = http.get("/oauth/authorize?" + "&".join(f"{k}={v}" for k, v in flow.params().items())
                            + f"&client_id={client_id}")
        _page_error(repeated, "more than once")
        server.call(lambda rt: set_client_status(rt, client_id, False, actor="test"))
        _page_error(flow.authorize(), "not known here")


@pytest.mark.parametrize("change, error, words", [
    ({"response_type": "token"}, "unsupported_response_type", "response_type must be code"),
    ({"code_challenge": None}, "invalid_request", "code_challenge is required"),
    ({"code_challenge_method": None}, "invalid_request", "plain is not accepted"),
    ({"code_challenge_method": "plain"}, "invalid_request", "plain is not accepted"),
    ({"code_challenge": "short"}, "invalid_request", "43 base64url characters"),
    ({"scope": "Patient.read Patient.write"}, "invalid_scope", "Patient.write"),
    ({"aud": "https://other.example/fhir"}, "invalid_request", "FHIR base URL"),
    ({"request": "eyJ..."}, "request_not_supported", "not supported"),
    ({"prompt": "none login"}, "invalid_request", "prompt=none"),
    ({"max_age": "-1"}, "invalid_request", "max_age"),
    ({"response_mode": "fragment"}, "invalid_request", "response_mode"),
])
def test_later_errors_go_back_to_the_app(app: tuple[LiveServer, str], change: dict[str, str | None], error: str,
                                         words: str) -> None:
    server, client_id = app
    with server.client() as http:
        resp = Flow(server, http, client_id).authorize(**change)
    assert resp.status_code == 303
    location = resp.headers["location"]
    assert location.startswith(REDIRECT + "?")
    got = query_of(location)
    assert got["error"] == error and words in got["error_description"]
    assert got["state"] == "state-123" and got["iss"] == server.settings.issuer
    assert "code" not in got


@pytest.mark.parametrize("change", [{"launch": "abc"}, {"scope": "launch/patient Patient.read"}])
def test_without_a_launch_context_provider_launches_go_back_refused(app: tuple[LiveServer, str],
                                                                     change: dict[str, str]) -> None:
    """A deployment without the SMART launch provider refuses what would need one, before any sign-in."""
    server, client_id = app
    server.app.state.authorization.launch_resolver = NoLaunchContext()
    with server.client() as http:
        resp = Flow(server, http, client_id).authorize(**change)
    assert resp.status_code == 303
    got = query_of(resp.headers["location"])
    assert got["error"] == "invalid_request" and "no launch context provider" in got["error_description"]


def test_a_client_without_the_code_grant_is_unauthorized(server: LiveServer) -> None:
    record, _ = server.create_client(name="cc only", redirect_uris=[REDIRECT], scopes=["Patient.read"])
    with server.client() as http:
        got = query_of(Flow(server, http, record.client_id).authorize().headers["location"])
    assert got["error"] == "unauthorized_client"


def test_the_fhir_base_url_is_the_accepted_audience(app: tuple[LiveServer, str]) -> None:
    server, client_id = app
    with server.client() as http:
        flow = Flow(server, http, client_id)
        code = flow.code("doc@example.com", aud=server.settings.issuer + "/fhir")
        token = flow.exchange(code).json()["access_token"]
    from tests.people.helpers import jwt_claims

    assert jwt_claims(token)["aud"] == "http://127.0.0.1:9999/fhir"


def test_prompt_none_without_a_session_or_consent(app: tuple[LiveServer, str]) -> None:
    server, client_id = app
    with server.client() as http:
        flow = Flow(server, http, client_id)
        assert query_of(flow.authorize(prompt="none").headers["location"])["error"] == "login_required"
        page = flow.sign_in_from(flow.authorize(), "doc@example.com")
        assert page.status_code == 200  # the consent page
        assert query_of(flow.authorize(prompt="none").headers["location"])["error"] == "consent_required"


def test_declining_is_access_denied(app: tuple[LiveServer, str]) -> None:
    server, client_id = app
    with server.client() as http:
        flow = Flow(server, http, client_id)
        page = flow.sign_in_from(flow.authorize(), "doc@example.com")
        got = query_of(flow.answer_consent(page, "deny").headers["location"])
        assert got["error"] == "access_denied" and got["state"] == "state-123"
        assert flow.authorize().status_code == 200  # nothing remembered: asked again


def test_a_user_of_another_tenant_is_denied(app: tuple[LiveServer, str]) -> None:
    from tokensmith.tenants.service import create_tenant

    server, client_id = app
    server.call(lambda rt: create_tenant(rt, slug="other", name="Other", admin_email="stranger@example.com",
                                         admin_password="correct horse battery staple", actor="test"))
    with server.client() as http:
        flow = Flow(server, http, client_id)
        resp = flow.sign_in_from(flow.authorize(), "stranger@example.com")
    assert query_of(resp.headers["location"])["error"] == "access_denied"
