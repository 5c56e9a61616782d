"""The one place the authorization server is assembled: every grant, client-authentication method,
introspector, revoker and scope language tokensmith ships, one registration line each (token formats are
the runtime's registry, :func:`tokensmith.tokens.default_token_formats`, shared with every issuer). Adding
one is a new module plus a line here — see ``docs/architecture.md``, "Extension points"."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tokensmith.apikeys.caller import ApiKeyAsCaller
from tokensmith.apikeys.introspection import ApiKeyIntrospector
from tokensmith.codeflow.revocation import CodeFlowRefreshTokenRevoker
from tokensmith.oauth.client_auth import register_client_methods
from tokensmith.oauth.grants.authorization_code import AuthorizationCodeGrant
from tokensmith.oauth.grants.client_credentials import ClientCredentialsGrant
from tokensmith.oauth.grants.refresh_token import RefreshTokenGrant
from tokensmith.oauth.grants.token_exchange import TokenExchangeGrant
from tokensmith.oauth.server import AuthorizationServer
from tokensmith.people.user_tokens import RefreshOrUserTokenIntrospector
from tokensmith.smart.client_auth_jwt import PrivateKeyJwt
from tokensmith.smart.launch_resolver import SmartLaunchResolver
from tokensmith.smart.scopes import SmartScopes
from tokensmith.tokens.access import AccessTokenIntrospector, AccessTokenRevoker

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime


def build_authorization_server(rt: Runtime) -> AuthorizationServer:
    server = AuthorizationServer(rt, formats=rt.token_formats)
    # client authentication (RFC 6749 §2.3): client_secret_basic, client_secret_post, none; API keys
    register_client_methods(server.client_auth, rt)
    server.client_auth.register(ApiKeyAsCaller(rt))
    server.client_auth.register(PrivateKeyJwt(rt, rt.client_jwks, rt.assertion_jtis))  # RFC 7523, SMART backend
    # grants (RFC 6749 §4, RFC 8693)
    server.grants.register(ClientCredentialsGrant(server.scopes))
    server.grants.register(TokenExchangeGrant(server.scopes))
    # the authorization-code flow with PKCE and OpenID Connect (RFC 6749 §4.1, §6; RFC 7636)
    server.grants.register(AuthorizationCodeGrant())
    server.grants.register(RefreshTokenGrant(server.scopes))
    # introspection (RFC 7662) and revocation (RFC 7009) per credential kind, tried in this order
    server.introspectors.register(AccessTokenIntrospector(rt))
    server.introspectors.register(RefreshOrUserTokenIntrospector(rt))
    server.introspectors.register(ApiKeyIntrospector(rt))
    server.revokers.register(AccessTokenRevoker(rt))
    server.revokers.register(CodeFlowRefreshTokenRevoker(rt))  # ends the grant (its oauth session)
    # scope languages: Resource.action is the default (server.scopes); SMART v1/v2 register here
    server.scopes.register(SmartScopes())
    server.launch_resolver = SmartLaunchResolver(rt)  # EHR launch, fhirUser
    return server
