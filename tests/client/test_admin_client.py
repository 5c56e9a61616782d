"""``TokensmithAdmin`` / ``AsyncTokensmithAdmin`` against the real management API: API keys (create,
list, get, update, rotate, revoke), users, personal user tokens, sessions; the one-time secrets come back
as ``Secret``; refusals are typed errors. ``/smart/apps`` follows the SMART contract (spec §F)."""

from __future__ import annotations

import pytest

from tests.client.helpers import USER, admin_auth, user_auth
from tests.support import LiveServer
from tokensmith.client import (
    UNSET,
    AsyncTokensmithAdmin,
    ClientCredentialsAuth,
    ExchangeUser,
    Forbidden,
    InvalidApiKey,
    NotFound,
    SessionExchangeAuth,
    TokensmithAdmin,
    ValidationFailed,
)


def test_api_key_lifecycle(any_server: LiveServer) -> None:
    with admin_auth(any_server) as auth, TokensmithAdmin(issuer=any_server.url, auth=auth) as admin:
        created = admin.create_api_key("Production Server", ["Patient.read"], rate_limit=120)
        assert "secret" not in created.record and len(created.client_id) == 32
        assert created.record["rateLimit"] == 120 and created.record["active"] is True
        assert [k["id"] for k in admin.list_api_keys()] == [created.id]
        updated = admin.update_api_key(created.id, name="Renamed", rate_limit=None, scopes=UNSET)
        assert updated["name"] == "Renamed" and updated["rateLimit"] is None
        assert admin.get_api_key(created.id)["scopes"] == ["Patient.read"]
        rotated = admin.rotate_api_key(created.id)
        assert rotated.api_key != created.api_key and rotated.client_id == created.client_id
        user = ExchangeUser(**USER)
        with SessionExchangeAuth(issuer=any_server.url, api_key=rotated.api_key) as exchange:
            assert exchange.token_for(user)
            admin.revoke_api_key(created.id)
            exchange.for_user(user).invalidate()
            with pytest.raises(InvalidApiKey):
                exchange.token_for(user)
        assert admin.list_api_keys() == [] and len(admin.list_api_keys(include_revoked=True)) == 1
        with pytest.raises(NotFound):
            admin.get_api_key("00000000-0000-0000-0000-000000000000")
        with pytest.raises(ValidationFailed) as caught:
            admin.create_api_key("", ["Patient.read"])
        assert caught.value.errors[0]["loc"] == ["name"]
        with pytest.raises(Forbidden):  # beyond the admin client's own permissions
            admin.create_api_key("too much", ["Billing.write"])


async def test_users_user_tokens_and_sessions_async(server: LiveServer) -> None:
    signin = user_auth(server, "owner@example.com")
    async with signin, AsyncTokensmithAdmin(issuer=server.url, auth=signin) as admin:
        user = await admin.create_user("member@example.com", password="another long passphrase", role="member")
        assert user["email"] == "member@example.com"
        assert {u["email"] for u in await admin.list_users()} == {"owner@example.com", "member@example.com"}
        assert (await admin.get_user(user["id"]))["role"] == "member"
        assert (await admin.update_user(user["id"], name="Mem Ber"))["name"] == "Mem Ber"
        created = await admin.create_user_token("export")
        assert [t["id"] for t in await admin.list_user_tokens()] == [created.id]
        await admin.revoke_user_token(created.id)
        assert await admin.list_user_tokens() == []
        sessions = await admin.list_sessions()
        assert any(s["current"] for s in sessions)
        with pytest.raises(NotFound):
            await admin.revoke_session("00000000-0000-0000-0000-000000000000")


def test_apps_follow_the_smart_contract(server: LiveServer) -> None:
    record, secret = server.create_client(scopes=["App.*"], name="app registrar")
    auth = ClientCredentialsAuth(issuer=server.url, client_id=record.client_id, client_secret=secret or "")
    with auth, TokensmithAdmin(issuer=server.url, auth=auth) as admin:
        app = admin.create_app("My FHIR App", scopes=["patient/*.read", "openid", "fhirUser"],
                               redirect_uris=["https://app.example/cb"], is_confidential=True)
        assert app.client_secret is not None and app.client_secret.reveal() not in repr(app)
        listed = admin.list_apps()
        assert [a["clientId"] for a in listed] == [app.client_id]
        assert admin.get_app(str(app.record["id"]))["redirectUris"] == ["https://app.example/cb"]
        admin.delete_app(str(app.record["id"]))
        with pytest.raises(NotFound):
            admin.get_app(str(app.record["id"]))
    with server.client() as http:  # the secret shown once works at the token endpoint until the app is gone
        refused = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                            auth=(app.client_id, app.client_secret.reveal()))
    assert refused.status_code == 401
