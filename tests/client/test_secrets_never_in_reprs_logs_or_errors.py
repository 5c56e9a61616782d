"""No secret leaves the SDK by accident: not in a ``repr()`` or ``str()`` of a provider, token, created
credential or error; not in any log record at DEBUG — the SDK's, httpx's and httpcore's own logging
switched on — while every provider gets tokens, uses them, hits 401s and fails."""

from __future__ import annotations

import logging
import pickle

import httpx
import pytest

from tests.client.helpers import PASSWORD, USER, admin_client, create_api_key, user_auth
from tests.support import LiveServer
from tokensmith.client import (
    ClientCredentialsAuth,
    ExchangeUser,
    PasswordAuth,
    Secret,
    SessionExchangeAuth,
    TokensmithAdmin,
    TokensmithError,
    UserTokenAuth,
)


def _no_secret_in(texts: list[str], secrets: list[str]) -> None:
    for secret in secrets:
        assert len(secret) >= 8
        for text in texts:
            assert secret not in text, f"a secret leaked into: {text[:200]!r}"


def test_nothing_secret_in_reprs_logs_or_errors(server: LiveServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # root: tokensmith.client, httpx, httpcore, everything
    client_id, client_secret = admin_client(server)
    api_key = create_api_key(server)
    texts: list[str] = []
    errors: list[TokensmithError] = []
    with ClientCredentialsAuth(issuer=server.url, client_id=client_id, client_secret=client_secret) as cc, \
            user_auth(server, "admin@example.com") as signin, \
            SessionExchangeAuth(issuer=server.url, api_key=api_key, user=ExchangeUser(**USER)) as exchange, \
            TokensmithAdmin(issuer=server.url, auth=signin) as admin:
        created_token = admin.create_user_token("ci")
        created_key = admin.create_api_key("leak check", ["Patient.read"])
        rotated = admin.rotate_api_key(created_key.id)
        with UserTokenAuth(issuer=server.url, user_token=created_token.token) as user_token, \
                httpx.Client(base_url=server.url, auth=cc) as api:
            api.get("/api-keys")
            httpx.get(f"{server.url}/users/me", auth=user_token)
            exchange.token()
            httpx.post(f"{server.url}/oauth/revoke", data={"token": cc.token()}, auth=(client_id, client_secret))
            api.get("/api-keys")  # a 401 and a retry
            secrets = [client_secret, api_key, api_key.split(":")[1], PASSWORD, created_token.token.reveal(),
                       created_key.api_key.reveal(), rotated.api_key.reveal(), cc.token(), user_token.token(),
                       exchange.token(), signin.token(), signin._refresh_token.reveal()]  # type: ignore[union-attr]
            objects: list[object] = [cc, signin, exchange, user_token, admin, created_token, created_key, rotated,
                                     cc.get_token(), signin.get_token(), exchange.get_token(), cc.for_requests(),
                                     Secret(client_secret)]
            texts += [repr(o) for o in objects] + [str(o) for o in objects]
        admin.revoke_user_token(created_token.id)
        for failing in (
            ClientCredentialsAuth(issuer=server.url, client_id=client_id, client_secret=client_secret + "x"),
            PasswordAuth(issuer=server.url, email="admin@example.com", password=PASSWORD + "x"),
            SessionExchangeAuth(issuer=server.url, api_key=api_key + "x", user=ExchangeUser(**USER)),
            UserTokenAuth(issuer=server.url, user_token=created_token.token),
        ):
            with failing, pytest.raises(TokensmithError) as caught:
                failing.token()
            errors.append(caught.value)
    assert [e.status for e in errors] == [401, 401, 401, 410]
    texts += [repr(e) for e in errors] + [str(e) for e in errors]
    texts += [record.getMessage() for record in caplog.records] + [caplog.text]
    assert any(r.name.startswith("httpx") for r in caplog.records)  # httpx's own logging was on
    assert any(r.name.startswith("httpcore") for r in caplog.records)
    _no_secret_in(texts, [*secrets, client_secret + "x", PASSWORD + "x"])


def test_a_secret_cannot_be_pickled_or_printed() -> None:
    value = Secret("s3cr3t-value-123")
    assert repr(value) == "Secret('***')" and str(value) == "***" and f"{value}" == "***"
    assert value.reveal() == "s3cr3t-value-123" and value == Secret("s3cr3t-value-123")
    with pytest.raises(TypeError):
        pickle.dumps(value)
    with pytest.raises(ValueError):
        Secret("")
