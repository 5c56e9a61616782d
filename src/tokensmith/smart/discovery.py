"""SMART App Launch 2.2 §2.0.5 "SMART on FHIR well-known URI" (``/.well-known/smart-configuration``,
also under the FHIR base), derived from what is registered and routed, like the RFC 8414 document it
extends (:mod:`tokensmith.oauth.metadata`): a capability is listed only when the grant, client method,
scope language or route that serves it exists in this process.

* ``authorization_endpoint``, ``code_challenge_methods_supported`` and the launch, context, public-client,
  symmetric-client and patient/user permission capabilities need the authorization endpoint
  (``/smart/authorize`` routed) and the ``authorization_code`` grant;
* ``sso-openid-connect`` needs ID tokens (the server metadata lists their signing algorithms);
* ``permission-offline`` / ``permission-online`` need the ``refresh_token`` grant;
* ``client-confidential-asymmetric`` needs ``private_key_jwt``; ``permission-v1``/``-v2`` the SMART scope
  language.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from tokensmith.smart.scopes import SmartScopes

if TYPE_CHECKING:
    from tokensmith.oauth.server import AuthorizationServer

AUTHORIZE_PATH = "/smart/authorize"
SMART_TOKEN_PATH = "/smart/token"
SYSTEM_SCOPES = ["system/*.cruds", "system/*.rs", "system/*.read", "system/*.write"]


def _capabilities(server: AuthorizationServer, meta: dict[str, Any], authorize: bool,
                  authorize_post: bool) -> list[str]:
    grants = set(server.grants.grant_types)
    methods = set(meta.get("token_endpoint_auth_methods_supported", []))
    code = authorize and "authorization_code" in grants
    code_methods: set[str] = set()
    if code:
        code_methods = set(server.client_auth.names_for(server.grants.get("authorization_code").callers))
    caps: list[str] = []
    ehr = code and server.launch_resolver.available
    if code:
        caps += ["launch-ehr", "launch-standalone"] if ehr else ["launch-standalone"]
        caps += ["authorize-post"] if authorize_post else []
        caps += ["client-public"] if "none" in code_methods else []
        symmetric = code_methods & {"client_secret_basic", "client_secret_post"}
        caps += ["client-confidential-symmetric"] if symmetric else []
    if "private_key_jwt" in methods:
        caps.append("client-confidential-asymmetric")
    if code and "id_token_signing_alg_values_supported" in meta:
        caps.append("sso-openid-connect")
    if ehr:  # the launch-context provider: EHR launch and the standalone patient picker
        caps += ["context-ehr-patient", "context-ehr-encounter", "context-standalone-patient"]
    if code and "refresh_token" in grants:
        caps += ["permission-offline", "permission-online"]
    if code:
        caps += ["permission-patient", "permission-user"]
    if any(lang == SmartScopes.name for lang in server.scopes.names):
        caps += ["permission-v1", "permission-v2"]
    return caps


def _scopes(caps: Collection[str], grants: Collection[str]) -> list[str]:
    scopes: list[str] = []
    if "sso-openid-connect" in caps:
        scopes += ["openid", "fhirUser", "profile"]
    if "launch-ehr" in caps:
        scopes += ["launch", "launch/patient"]
    if "permission-offline" in caps:
        scopes += ["offline_access", "online_access"]
    if "permission-patient" in caps:
        scopes += ["patient/*.cruds", "patient/*.rs", "patient/*.read", "patient/*.write"]
    if "permission-user" in caps:
        scopes += ["user/*.cruds", "user/*.rs", "user/*.read", "user/*.write"]
    if "client_credentials" in grants and "permission-v2" in caps:
        scopes += SYSTEM_SCOPES
    return scopes


def smart_configuration(server: AuthorizationServer, issuer: str, routes: dict[str, set[str]]) -> dict[str, Any]:
    """The document; ``routes`` maps the app's paths to their methods (what is really served)."""
    meta = server.metadata()
    authorize = "GET" in routes.get(AUTHORIZE_PATH, set())
    caps = _capabilities(server, meta, authorize, "POST" in routes.get(AUTHORIZE_PATH, set()))
    token_path = SMART_TOKEN_PATH if "POST" in routes.get(SMART_TOKEN_PATH, set()) else None
    doc: dict[str, Any] = {
        "issuer": issuer,
        "jwks_uri": meta["jwks_uri"],
        "token_endpoint": f"{issuer}{token_path}" if token_path else meta["token_endpoint"],
        "grant_types_supported": meta["grant_types_supported"],
        "token_endpoint_auth_methods_supported": meta["token_endpoint_auth_methods_supported"],
    }
    if authorize:
        doc["authorization_endpoint"] = f"{issuer}{AUTHORIZE_PATH}"
        doc["response_types_supported"] = meta["response_types_supported"]
        doc["code_challenge_methods_supported"] = ["S256"]
    for name in ("token_endpoint_auth_signing_alg_values_supported", "introspection_endpoint",
                 "revocation_endpoint", "userinfo_endpoint", "id_token_signing_alg_values_supported"):
        if name in meta:
            doc[name] = meta[name]
    doc["scopes_supported"] = _scopes(caps, meta["grant_types_supported"])
    doc["capabilities"] = caps
    return doc
