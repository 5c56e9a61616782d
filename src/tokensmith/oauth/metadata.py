"""RFC 8414 authorization server metadata and OpenID Connect discovery."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime


def server_metadata(rt: Runtime, grant_types: list[str]) -> dict[str, Any]:
    base = rt.settings.issuer
    token_auth_methods = ["client_secret_basic", "client_secret_post"]
    metadata: dict[str, Any] = {
        "issuer": base,
        "token_endpoint": f"{base}/oauth/token",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "introspection_endpoint": f"{base}/oauth/introspect",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "grant_types_supported": grant_types,
        "response_types_supported": ["code"],
        "token_endpoint_auth_methods_supported": token_auth_methods,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": sorted({k.alg for k in rt.keyring.keys.values()} or
                                                        {rt.settings.signing_alg}),
        "scopes_supported": ["openid"],
        "service_documentation": f"{base}/docs",
    }
    # RFC 8414 §2: signing algorithms for client authentication only mean something with a JWT-based
    # method; advertising them without one promises a client assertion the endpoint does not accept.
    if {"private_key_jwt", "client_secret_jwt"} & set(token_auth_methods):
        metadata["token_endpoint_auth_signing_alg_values_supported"] = ["RS256", "ES256", "RS384", "ES384"]
    return metadata
