"""RFC 8414 authorization server metadata, derived from what the :class:`AuthorizationServer` has
registered, so that it can never advertise a grant, method or endpoint that does not work.

What is left out, and why (see ``docs/architecture.md``, "Discovery lists what is served"):

* ``response_types_supported`` is REQUIRED by RFC 8414 §2, and is the ``response_type`` values of the
  authorization endpoint. There is no authorization endpoint yet, so the list is empty — the only true
  value — and ``authorization_endpoint`` is absent. Grants that serve one add their response types.
* ``code_challenge_methods_supported`` (PKCE), ``scopes_supported``, ``subject_types_supported`` and
  ``id_token_signing_alg_values_supported``: no PKCE, no fixed scope list (scopes are per tenant), no
  ID tokens. They come back with the grants and the OpenID Connect support that serve them.
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
JWT_CLIENT_AUTH = frozenset({"private_key_jwt", "client_secret_jwt"})


def token_endpoint_auth_methods(server: AuthorizationServer) -> list[str]:
    """The client methods some registered grant accepts (API keys are not an RFC 7591 method)."""
    names: list[str] = []
    for grant in server.grants:
        for name in server.client_auth.names_for(grant.callers, CLIENT):
            if name not in names:
                names.append(name)
    return names


def server_metadata(server: AuthorizationServer, issuer: str, *, service_documentation: bool) -> dict[str, Any]:
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
