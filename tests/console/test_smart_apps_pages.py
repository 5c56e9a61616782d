"""SMART apps in the console: the four kinds registered through the form (the secret of a symmetric app
shown once, a JWK Set pasted as JSON or a JWKS URL), "try it" snippets that name the real endpoints and
work as printed for a backend service, edits and key replacement checked as the API checks them,
rotation, and disable behind a confirmation page. Refusals come back as the form with the error next to
the field, never a 500."""

from __future__ import annotations

import html
import json
import re

import httpx

from tests.console.helpers import client_as, post, secret_of
from tests.people.helpers import make_user
from tests.smart.helpers import ASSERTION_TYPE, KeyPair
from tests.support import TEST_MASTER_KEY, LiveServer, make_settings

NEW = "/console/smart-apps/new"
REDIRECT = "https://app.example/cb"


def _client_id(page: str) -> str:
    found = re.search(r"client_id</th><td><code>([^<]+)</code>", page)
    assert found, page[:500]
    return found.group(1)


def _register(http: httpx.Client, **fields: str) -> httpx.Response:
    return post(http, NEW, {"name": "Chart viewer", "kind": "public", **fields}, form_page=NEW)


def _stored(server: LiveServer, client_id: str) -> dict:  # type: ignore[type-arg]
    from tokensmith.smart.apps import get_app

    return server.call(lambda rt: get_app(rt, server.tenant_id, client_id))  # type: ignore[no-any-return]


def test_a_public_app_is_registered_and_its_snippets_name_the_real_endpoints(server: LiveServer) -> None:
    issuer = server.settings.issuer.rstrip("/")
    with client_as(server, "ada@example.com", "admin") as http:
        assert "No SMART apps yet" in http.get("/console/smart-apps").text
        created = _register(http, redirect_uris=REDIRECT, scopes="launch/patient patient/*.rs")
        assert created.status_code == 200, created.text[:800]
        client_id = _client_id(created.text)
        page = html.unescape(created.text)
        assert "shown only this once" not in page  # a public app has no secret
        assert f"{issuer}/smart/authorize?response_type=code&client_id={client_id}" in page
        assert "aud=" + httpx.QueryParams({"a": server.settings.fhir_base})["a"].replace(":", "%3A").replace(
            "/", "%2F") in page
        assert "code_challenge_method=S256" in page and f"curl {issuer}/smart/token" in page
        assert f"-d client_id={client_id}" in page and "grant_type=authorization_code" in page
        listed = http.get("/console/smart-apps").text
        assert client_id in listed and "Public app" in listed
    stored = _stored(server, client_id)
    assert stored["profile"] == "public" and stored["redirectUris"] == [REDIRECT]
    assert stored["scopes"] == ["launch/patient", "patient/*.rs"] and stored["tokenEndpointAuthMethod"] == "none"


def test_a_symmetric_app_shows_its_secret_once_and_rotates_it(server: LiveServer) -> None:
    with client_as(server, "ada@example.com", "admin") as http:
        created = _register(http, kind="confidential-symmetric", redirect_uris=REDIRECT, scopes="user/*.rs",
                            auth_method="client_secret_post")
        assert created.status_code == 200 and "shown only this once" in created.text
        assert 'data-copy-target="secret"' in created.text and "console.js" in created.text
        secret, client_id = secret_of(created.text), _client_id(created.text)
        assert f"-d client_secret={secret}" in html.unescape(created.text)  # the snippet carries it, this once
        again = http.get(f"/console/smart-apps/{client_id}").text
        assert secret not in again and "CLIENT_SECRET" in again

        def introspect(with_secret: str) -> int:  # client_secret_post: the credentials in the form
            return http.post("/oauth/introspect", data={"token": "not-a-token", "client_id": client_id,
                                                        "client_secret": with_secret}).status_code

        assert introspect(secret) == 200
        rotated = post(http, f"/console/smart-apps/{client_id}/rotate", {"grace_seconds": "0"})
        assert rotated.status_code == 200 and "The secret is rotated" in rotated.text
        new = secret_of(rotated.text)
        assert introspect(secret) == 401 and introspect(new) == 200
        bad = post(http, f"/console/smart-apps/{client_id}/rotate", {"grace_seconds": "ten"})
        assert bad.status_code == 400 and 'id="e-grace_seconds"' in bad.text
        assert f'action="/console/smart-apps/{client_id}/rotate"' in bad.text
    assert _stored(server, client_id)["tokenEndpointAuthMethod"] == "client_secret_post"


def test_a_backend_service_with_a_pasted_key_set_gets_a_token_as_the_snippet_says(server: LiveServer) -> None:
    key = KeyPair("ES384")
    with client_as(server, "ada@example.com", "admin") as http:
        created = _register(http, kind="backend-service", scopes="system/*.rs",
                            jwks=json.dumps(key.jwks(), indent=2).replace("\n", "\r\n"))  # as a browser posts it
        assert created.status_code == 200, created.text[:800]
        client_id = _client_id(created.text)
        page = html.unescape(created.text)
        token_url = server.settings.issuer.rstrip("/") + "/smart/token"
        assert f"curl {token_url}" in page and "-d grant_type=client_credentials" in page
        assert f"-d client_assertion_type={ASSERTION_TYPE}" in page and f"aud = {token_url}" in page
        assert key.kid in page and "Redirect URIs" not in page
        resp = http.post("/smart/token", data={"grant_type": "client_credentials", "scope": "system/*.rs",
                                               "client_assertion_type": ASSERTION_TYPE,
                                               "client_assertion": key.assertion(client_id, token_url)})
        assert resp.status_code == 200, resp.text
        assert resp.json()["scope"] == "system/*.rs"
    assert _stored(server, client_id)["profile"] == "backend-service"


def test_an_asymmetric_app_by_jwks_url_then_its_keys_replaced_by_a_pasted_set(server: LiveServer) -> None:
    key = KeyPair("RS384")
    with client_as(server, "ada@example.com", "admin") as http:
        created = _register(http, kind="confidential-asymmetric", redirect_uris=REDIRECT, scopes="user/*.rs",
                            jwks_uri="https://keys.example.com/jwks.json")
        assert created.status_code == 200, created.text[:800]
        client_id = _client_id(created.text)
        assert "fetched from <code>https://keys.example.com/jwks.json</code>" in created.text
        assert "client_assertion_type" in created.text  # the code exchange signs too
        path = f"/console/smart-apps/{client_id}/keys"
        both = post(http, path, {"jwks": json.dumps(key.jwks()), "jwks_uri": "https://keys.example.com/k"})
        assert both.status_code == 400 and 'id="e-jwks_uri"' in both.text
        replaced = post(http, path, {"jwks": json.dumps(key.jwks()), "jwks_uri": ""})
        assert replaced.status_code == 303
        assert "The keys are replaced" in http.get(replaced.headers["location"]).text
    stored = _stored(server, client_id)
    assert stored["jwksUri"] is None and stored["jwks"]["keys"][0]["kid"] == key.kid
    assert stored["profile"] == "confidential-asymmetric"


def test_bad_input_comes_back_with_the_error_next_to_the_field(server: LiveServer) -> None:
    private = KeyPair("ES384").private
    cases = [
        ({"kind": "backend-service", "jwks": "{not json", "scopes": "system/*.rs"}, "jwks", "not JSON"),
        ({"kind": "backend-service", "jwks": json.dumps({"keys": [private]}), "scopes": "system/*.rs"}, "jwks",
         "keys must be public"),
        ({"kind": "backend-service", "jwks": "[]"}, "jwks", "JWK Set is a JSON object"),
        ({"kind": "backend-service", "scopes": "system/*.rs"}, "jwks", "paste the app"),
        ({"kind": "backend-service", "jwks_uri": "https://k.example/j", "redirect_uris": REDIRECT}, "redirect_uris",
         "leave the redirect URIs empty"),
        ({"kind": "confidential-asymmetric", "jwks_uri": "https://k.example/j"}, "redirect_uris", "at least one"),
        ({"redirect_uris": "https://app.example/cb#frag"}, "redirect_uris", "fragment"),
        ({"redirect_uris": "not a uri"}, "redirect_uris", "not an absolute URI"),
        ({"redirect_uris": REDIRECT, "scopes": "system/*.rs"}, "scopes", "system/ scopes are for backend services"),
        ({"redirect_uris": REDIRECT, "scopes": "Patient.read"}, "scopes", "not a SMART scope"),
        ({"kind": "something"}, "kind", "choose one of the four kinds"),
        ({"name": "  ", "redirect_uris": REDIRECT}, "name", "enter a name"),
        ({"kind": "confidential-symmetric", "redirect_uris": REDIRECT, "auth_method": "private_key_jwt"},
         "auth_method", "client_secret_basic or client_secret_post"),
    ]
    with client_as(server, "ada@example.com", "admin") as http:
        for fields, field, message in cases:
            resp = _register(http, **fields)
            assert resp.status_code == 400, (fields, resp.status_code)
            error = re.search(rf'<p class="field-error" id="e-{field}">([^<]*)</p>', resp.text)
            assert error and message in html.unescape(error.group(1)), (fields, resp.text[:3000])
            assert 'name="csrf_token"' in resp.text  # the form again, with what was typed
        assert "No SMART apps yet" in http.get("/console/smart-apps").text


def test_outside_development_a_jwks_url_on_a_private_address_is_refused_at_the_field(sqlite_url: str) -> None:
    settings = make_settings(sqlite_url, env="production", issuer="https://tokensmith.test",
                             master_key=TEST_MASTER_KEY)
    with LiveServer(settings) as live, live.client() as http:
        make_user(live, "ops@example.com", role="owner")
        _production_sign_in(http, "ops@example.com")
        resp = _register(http, kind="backend-service", scopes="system/*.rs", jwks_uri="https://10.0.0.7/jwks")
        assert resp.status_code == 400
        assert 'id="e-jwks_uri"' in resp.text and "private, loopback or link-local" in resp.text
        http_url = _register(http, kind="backend-service", scopes="system/*.rs", jwks_uri="http://keys.example/j")
        assert http_url.status_code == 400 and "absolute https:// URL" in http_url.text
        insecure = _register(http, redirect_uris="http://app.example/cb")
        assert insecure.status_code == 400 and 'id="e-redirect_uris"' in insecure.text


def _production_sign_in(http: httpx.Client, email: str) -> None:
    """An https issuer's cookies are Secure (the client keeps them off plain http): carried by hand."""
    from tests.people.helpers import PASSWORD
    from tests.web.helpers import csrf_of

    form = http.get("/signin")
    pre = form.headers["set-cookie"].split(";")[0]
    signed = http.post("/signin", data={"csrf_token": csrf_of(form.text), "email": email, "password": PASSWORD},
                       headers={"sec-fetch-site": "same-origin", "cookie": pre})
    assert signed.status_code == 303, signed.text[:300]
    http.headers["cookie"] = signed.headers["set-cookie"].split(";")[0]


def test_disable_goes_through_a_confirmation_page_and_stops_the_app(server: LiveServer) -> None:
    key = KeyPair("ES384")
    token_url = server.settings.issuer.rstrip("/") + "/smart/token"
    with client_as(server, "ada@example.com", "admin") as http:
        client_id = _client_id(_register(http, kind="backend-service", scopes="system/*.rs",
                                         jwks=json.dumps(key.jwks())).text)
        detail = http.get(f"/console/smart-apps/{client_id}").text
        assert f'href="/console/smart-apps/{client_id}/disable"' in detail
        confirm = http.get(f"/console/smart-apps/{client_id}/disable")
        assert confirm.status_code == 200 and 'name="confirm"' in confirm.text and "Cancel" in confirm.text
        path = f"/console/smart-apps/{client_id}/disable"
        unticked = post(http, path, {}, form_page=path)
        assert unticked.status_code == 400 and 'id="e-confirm"' in unticked.text
        assert _stored(server, client_id)["active"] is True
        done = post(http, path, {"confirm": "yes"}, form_page=path)
        assert done.status_code == 303
        assert "The app is disabled" in http.get(done.headers["location"]).text

        def token() -> int:
            return http.post("/smart/token", data={
                "grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": key.assertion(client_id, token_url)}).status_code

        assert token() == 401
        assert post(http, f"/console/smart-apps/{client_id}/enable").status_code == 303
        assert token() == 200


def test_edits_are_checked_as_the_api_checks_them(server: LiveServer) -> None:
    with client_as(server, "ada@example.com", "admin") as http:
        client_id = _client_id(_register(http, kind="confidential-asymmetric", redirect_uris=REDIRECT,
                                         scopes="user/*.rs", jwks_uri="https://keys.example.com/j").text)
        path = f"/console/smart-apps/{client_id}/edit"
        bad = post(http, path, {"name": "Viewer", "redirect_uris": "ftp://x/cb", "scopes": "user/*.rs"})
        assert bad.status_code == 400 and 'id="e-redirect_uris"' in bad.text and "ftp://x/cb" in bad.text
        kind_change = post(http, path, {"name": "Viewer", "redirect_uris": "", "scopes": "user/*.rs"})
        assert kind_change.status_code == 400 and "register a new app" in kind_change.text
        lone_cr = post(http, path, {"name": "Viewer", "redirect_uris": REDIRECT + "\rx"})
        assert lone_cr.status_code == 400 and "control characters" in lone_cr.text  # only CR LF becomes LF
        no_name = post(http, path, {"name": "", "redirect_uris": REDIRECT})
        assert no_name.status_code == 400 and 'id="e-name"' in no_name.text
        saved = post(http, path, {"name": "Viewer 2", "redirect_uris": f"{REDIRECT}\r\nhttp://127.0.0.1:8080/cb",
                                  "scopes": "user/*.rs openid fhirUser"})
        assert saved.status_code == 303
        missing = http.get("/console/smart-apps/no-such-app")
        assert missing.status_code == 404
    stored = _stored(server, client_id)
    assert stored["name"] == "Viewer 2" and stored["redirectUris"] == [REDIRECT, "http://127.0.0.1:8080/cb"]
    assert stored["scopes"] == ["user/*.rs", "openid", "fhirUser"]
