"""RFC 8414 authorization server metadata, derived from what the :class:`AuthorizationServer` has
registered, so that it can never advertise a grant, method or endpoint that does not work.

* ``response_types_supported`` (REQUIRED by RFC 8414 §2) is the ``response_type`` values the registered
  grants serve; with ``code`` (the authorization-code grant) come the authorization endpoint, PKCE
  (``S256`` only), the RFC 9207 ``iss`` parameter and OpenID Connect Discovery's members: userinfo,
  ``subject_types_supported``, the ID-token algorithms of the key ring, the identity scopes and the claims
  (``fhirUser`` only with a launch-context provider). Without it they are all absent.
* ``scopes_supported`` lists only the OpenID Connect scopes: resource scopes are per tenant.
* ``token_endpoint_auth_signing_alg_values_supported``: only with a JWT-based client-auth method.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tokensmith.oauth.client_auth import CLIENT

if TYPE_CHECKING:
    from tokensmith.oauth.server import AuthorizationServer

TOKEN_PATH = "/oauth/token"
JWKS_PATH = "/.well-known/jwks.json"
INTROSPECTION_PATH = "/oauth/introspect"
REVOCATION_PATH = "/oauth/revoke"
DOCS_PATH = "/docs"
AUTHORIZATION_PATH = "/oauth/authorize"
USERINFO_PATH = "/oauth/userinfo"
OIDC_SCOPES = ["openid", "profile", "email", "offline_access", "online_access"]
JWT_CLIENT_AUTH = frozenset({"private_key_jwt", "client_secret_jwt"})


def token_endpoint_auth_methods(server: AuthorizationServer) -> list[str]:
    """The client methods some registered grant accepts (API keys are not an RFC 7591 method)."""
    names: list[str] = []
    for grant in server.grants:
        for name in server.client_auth.names_for(grant.callers, CLIENT):
            if name not in names:
                names.append(name)
    return names


def code_flow_metadata(server: AuthorizationServer, issuer: str, signing_algs: list[str]) -> dict[str, Any]:
    """The members that exist because the authorization endpoint and ID tokens do."""
    from tokensmith.codeflow.id_token import CLAIMS_SUPPORTED

    claims = [c for c in CLAIMS_SUPPORTED if c != "fhirUser" or server.launch_resolver.available]
    return {
        "authorization_endpoint": f"{issuer}{AUTHORIZATION_PATH}",
        "code_challenge_methods_supported": ["S256"],
        "response_modes_supported": ["query"],
        "authorization_response_iss_parameter_supported": True,
        "userinfo_endpoint": f"{issuer}{USERINFO_PATH}",
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": signing_algs,
        "scopes_supported": OIDC_SCOPES,
        "claims_supported": claims,
        "prompt_values_supported": ["none", "login", "consent"],
    }


def server_metadata(server: AuthorizationServer, issuer: str, *, service_documentation: bool,
                    signing_algs: list[str] | None = None) -> dict[str, Any]:
    from tokensmith.oauth.server import INTROSPECTION_CALLERS, REVOCATION_CALLERS

    response_types: list[str] = []
    for grant in server.grants:
        response_types += [r for r in grant.response_types if r not in response_types]
    token_methods = token_endpoint_auth_methods(server)
    metadata: dict[str, Any] = {
        "issuer": issuer,
        "token_endpoint": f"{issuer}{TOKEN_PATH}",
        "jwks_uri": f"{issuer}{JWKS_PATH}",
        "grant_types_supported": server.grants.grant_types,
        "response_types_supported": response_types,
        "token_endpoint_auth_methods_supported": token_methods,
    }
    if "code" in response_types:
        metadata.update(code_flow_metadata(server, issuer, signing_algs or []))
    if server.introspectors.hints:
        metadata["introspection_endpoint"] = f"{issuer}{INTROSPECTION_PATH}"
        metadata["introspection_endpoint_auth_methods_supported"] = server.client_auth.names_for(
            INTROSPECTION_CALLERS, CLIENT)
    if server.revokers.hints:
        metadata["revocation_endpoint"] = f"{issuer}{REVOCATION_PATH}"
        metadata["revocation_endpoint_auth_methods_supported"] = server.client_auth.names_for(
            REVOCATION_CALLERS, CLIENT)
    # RFC 8414 §2: signing algorithms for client authentication only mean something with a JWT-based
    # method; advertising them without one promises a client assertion the endpoint does not accept.
    if JWT_CLIENT_AUTH & set(token_methods):
        metadata["token_endpoint_auth_signing_alg_values_supported"] = ["RS256", "ES256", "RS384", "ES384"]
    if service_documentation:
        metadata["service_documentation"] = f"{issuer}{DOCS_PATH}"
    return metadata
