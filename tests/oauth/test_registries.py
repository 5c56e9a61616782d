"""The authorization server's registries, in-process: a toy grant, client-auth method, token format and
scope language registered in a test work at once and appear in discovery; discovery lists exactly what the
registries hold."""

from __future__ import annotations

from typing import Any

import pytest

from tests.oauth.conftest import InProcess
from tests.oauth.helpers import CC, basic
from tokensmith.clients import auth_methods
from tokensmith.errors import InvalidClient, InvalidRequest
from tokensmith.oauth.client_auth import CLIENT, CONFIDENTIAL_CLIENTS, CallerPolicy, Presented
from tokensmith.oauth.grants.base import token_response
from tokensmith.oauth.metadata import token_endpoint_auth_methods
from tokensmith.oauth.request import OAuthRequest
from tokensmith.tokens.registry import Issuance, TokenInfo

DOCUMENTS = ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration")


class ToyGrant:
    grant_type = "urn:example:toy"
    callers = CONFIDENTIAL_CLIENTS
    response_types = ("toy",)

    async def validate(self, rt: Any, req: OAuthRequest, caller: Any) -> str:
        return req.get("word") or "none"

    async def create_response(self, rt: Any, req: OAuthRequest, caller: Any, validated: str) -> dict[str, Any]:
        token = await rt.issuer.issue(fmt="jwt", subject=caller.client_id, client_id=caller.client_id,
                                      tenant_id=caller.tenant_id, scopes=[], ttl=60)
        return token_response(token, [], word=validated)


class HeaderSecret:
    """A toy method: ``X-Toy-Client: <client_id>`` (no proof at all — only for this test)."""

    name = "toy_header"
    caller_kind = CLIENT
    public = False

    def __init__(self, inproc: InProcess) -> None:
        self._rt = inproc.rt

    def presented(self, req: OAuthRequest, *, exclusive: bool) -> Presented | None:
        value = req.headers.get("x-toy-client")
        return Presented(self, value, None) if value else None

    async def authenticate(self, presented: Presented, req: OAuthRequest) -> Any:
        client = await self._rt.clients.get(presented.client_id)
        if client is None:
            raise InvalidClient(debug="unknown toy client")
        return client


class ReversedFormat:
    """A toy format: the jti reversed, prefixed ``toy~`` (kept in memory)."""

    name = "toy"

    def __init__(self) -> None:
        self.issued: dict[str, dict[str, Any]] = {}

    def recognises(self, token: str) -> bool:
        return token.startswith("toy~")

    async def issue(self, claims: dict[str, Any], issuance: Issuance) -> str:
        value = "toy~" + claims["jti"][::-1]
        self.issued[value] = claims
        return value

    async def verify(self, token: str) -> tuple[TokenInfo | None, str]:
        claims = self.issued.get(token)
        return (TokenInfo(claims=claims, format=self.name), "ok") if claims else (None, "unknown")

    async def revoke(self, session: Any, info: TokenInfo, now: float) -> None:
        self.issued = {k: v for k, v in self.issued.items() if v["jti"] != info.claims["jti"]}


class FolderScopes:
    """A toy scope language: ``folder/<name>``, where ``folder/*`` covers every folder."""

    name = "folder"

    def recognises(self, scope: str) -> bool:
        return scope.startswith("folder/")

    def covers(self, granted: str, requested: str) -> bool:
        return granted in (requested, "folder/*")


async def _discovery(inproc: InProcess) -> list[dict[str, Any]]:
    return [(await inproc.http.get(d)).json() for d in DOCUMENTS]


async def test_discovery_lists_exactly_the_registries(inproc: InProcess) -> None:
    server = inproc.server
    for meta in await _discovery(inproc):
        assert meta["grant_types_supported"] == server.grants.grant_types == [
            "client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange", "authorization_code",
            "refresh_token"]
        assert meta["token_endpoint_auth_methods_supported"] == token_endpoint_auth_methods(server)
        assert meta["response_types_supported"] == ["code"]  # the authorization-code grant's
        assert meta["code_challenge_methods_supported"] == ["S256"]


async def test_a_registered_grant_is_served_and_advertised(inproc: InProcess) -> None:
    inproc.server.grants.register(ToyGrant())
    record, secret = await inproc.create_client(grant_types=["urn:example:toy"])
    resp = await inproc.http.post("/oauth/token", data={"grant_type": "urn:example:toy", "word": "hello"},
                                  headers=basic(record.client_id, secret))
    assert resp.status_code == 200, resp.text
    assert resp.json()["word"] == "hello"
    for meta in await _discovery(inproc):
        assert "urn:example:toy" in meta["grant_types_supported"]
        assert meta["response_types_supported"] == ["code", "toy"]


async def test_a_registered_client_auth_method_authenticates_and_is_advertised(inproc: InProcess) -> None:
    before = (await _discovery(inproc))[0]
    assert "toy_header" not in before["token_endpoint_auth_methods_supported"]
    inproc.server.client_auth.register(HeaderSecret(inproc))
    record, _ = await inproc.create_client(scopes=["api.read"])
    resp = await inproc.http.post("/oauth/token", data=CC, headers={"X-Toy-Client": record.client_id})
    assert resp.status_code == 200, resp.text
    for meta in await _discovery(inproc):
        assert "toy_header" in meta["token_endpoint_auth_methods_supported"]
        assert "toy_header" in meta["introspection_endpoint_auth_methods_supported"]


async def test_clients_may_register_exactly_the_registered_client_methods(inproc: InProcess) -> None:
    """The registry is the one list of ``token_endpoint_auth_method`` values: no second list to forget."""
    assert auth_methods(inproc.rt) == inproc.server.client_auth.registrable() == (
        "client_secret_basic", "client_secret_post", "private_key_jwt")
    for unregistrable in ("toy_header", "none", "api_key"):
        with pytest.raises(InvalidRequest, match="must be one of client_secret_basic, client_secret_post"):
            await inproc.create_client(auth_method=unregistrable)
    inproc.server.client_auth.register(HeaderSecret(inproc))
    assert "toy_header" in auth_methods(inproc.rt)
    record, _ = await inproc.create_client(auth_method="toy_header")
    assert record.auth_method == "toy_header"


async def test_a_registered_token_format_issues_introspects_and_revokes(inproc: InProcess) -> None:
    toy = ReversedFormat()
    inproc.rt.token_formats.register(toy)
    record, secret = await inproc.create_client(scopes=["api.read"], access_token_format="toy")
    token = (await inproc.http.post("/oauth/token", data=CC,
                                    headers=basic(record.client_id, secret))).json()["access_token"]
    assert token.startswith("toy~")
    info = (await inproc.http.post("/oauth/introspect", data={"token": token},
                                   headers=basic(record.client_id, secret))).json()
    assert info["active"] is True and info["client_id"] == record.client_id and info["scope"] == "api.read"
    revoked = await inproc.http.post("/oauth/revoke", data={"token": token}, headers=basic(record.client_id, secret))
    assert revoked.status_code == 200
    after = (await inproc.http.post("/oauth/introspect", data={"token": token},
                                    headers=basic(record.client_id, secret))).json()
    assert after == {"active": False}


async def test_shipped_formats_round_trip(inproc: InProcess) -> None:
    for fmt in inproc.rt.token_formats.names:
        issued = await inproc.rt.issuer.issue(fmt=fmt, subject="s", client_id="c", tenant_id=inproc.tenant_id,
                                              scopes=["api.read"], ttl=60)
        info, reason = await inproc.rt.verifier.verify_access_token(issued.value)
        assert info is not None, (fmt, reason)
        assert info.format == fmt and info.claims["jti"] == issued.jti and info.claims["scope"] == "api.read"
    for garbage in ("no.such.token", "no-such-opaque-token"):
        info, _reason = await inproc.rt.verifier.verify_access_token(garbage)
        assert info is None


async def test_a_registered_scope_language_judges_its_scopes(inproc: InProcess) -> None:
    record, secret = await inproc.create_client(scopes=["folder/*", "api.read"])
    before = await inproc.http.post("/oauth/token", data={**CC, "scope": "folder/reports"},
                                    headers=basic(record.client_id, secret))
    assert before.status_code == 400 and before.json()["error"] == "invalid_scope"  # Resource.action: no
    inproc.server.scopes.register(FolderScopes())
    after = await inproc.http.post("/oauth/token", data={**CC, "scope": "folder/reports api.read"},
                                   headers=basic(record.client_id, secret))
    assert after.status_code == 200, after.text
    assert after.json()["scope"] == "folder/reports api.read"
    assert inproc.server.scopes.names == ["smart", "folder", "resource.action"]


async def test_service_documentation_is_listed_only_while_the_page_is_served(inproc: InProcess) -> None:
    assert all(m["service_documentation"].endswith("/docs") for m in await _discovery(inproc))
    inproc.app.router.routes[:] = [r for r in inproc.app.router.routes if getattr(r, "path", None) != "/docs"]
    assert (await inproc.http.get("/docs")).status_code == 404
    assert all("service_documentation" not in m for m in await _discovery(inproc))


async def test_methods_are_computed_once_per_policy_and_again_after_a_registration(inproc: InProcess) -> None:
    registry = inproc.server.client_auth
    policy = CallerPolicy(frozenset({CLIENT}), allow_public=True)
    first = registry.methods_for(policy)
    assert registry.methods_for(policy) is first
    assert [m.name for m in first[0]] == ["client_secret_basic", "client_secret_post", "private_key_jwt"]
    assert [m.name for m in first[1]] == ["none"]
    assert registry.methods_for(CONFIDENTIAL_CLIENTS)[1] == ()  # no public clients there
    registry.register(HeaderSecret(inproc))
    assert [m.name for m in registry.methods_for(policy)[0]][-1] == "toy_header"
