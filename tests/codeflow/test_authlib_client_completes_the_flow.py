"""A third-party OAuth 2.0 client library, Authlib's ``OAuth2Session`` (requests; its httpx client is
deprecated), completes the code flow with PKCE and then refreshes, against the live server, without
patches. The front channel (sign-in and consent) is driven like a browser over HTTP."""

from __future__ import annotations

from authlib.integrations.requests_client import OAuth2Session

from tests.codeflow.helpers import REDIRECT, Flow, code_client
from tests.people.helpers import make_user
from tests.support import LiveServer


def test_authlib_code_flow_with_pkce_and_refresh(any_server: LiveServer) -> None:
    make_user(any_server, "doc@example.com", role="developer")
    record, _ = code_client(any_server)
    app = OAuth2Session(client_id=record.client_id, scope="openid Patient.read offline_access",
                       redirect_uri=REDIRECT, code_challenge_method="S256", token_endpoint_auth_method="none")
    verifier = "v" * 20 + "erifier-of-authlib-0123456789-abcdefghij"
    uri, state = app.create_authorization_url(f"{any_server.url}/oauth/authorize", code_verifier=verifier)
    with any_server.client() as browser:
        flow = Flow(any_server, browser, record.client_id)
        first = browser.get(uri.removeprefix(any_server.url))
        page = flow.sign_in_from(first, "doc@example.com")
        callback = flow.answer_consent(page).headers["location"]
    assert callback.startswith(REDIRECT) and f"state={state}" in callback
    token = app.fetch_token(f"{any_server.url}/oauth/token", authorization_response=callback,
                            code_verifier=verifier)
    assert token["token_type"] == "Bearer" and token["expires_in"] == 900 and "id_token" in token
    refreshed = app.refresh_token(f"{any_server.url}/oauth/token", refresh_token=token["refresh_token"])
    assert refreshed["access_token"] != token["access_token"]
    assert refreshed["refresh_token"] != token["refresh_token"]
    app.close()
