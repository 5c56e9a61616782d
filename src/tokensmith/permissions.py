"""Management permissions, in the same ``Resource.action`` language as every other scope, so a role
is one list of scope strings and one matcher (:mod:`tokensmith.scopes`) decides everything."""

API_KEY_READ = "ApiKey.read"
API_KEY_WRITE = "ApiKey.write"
CLIENT_READ = "Client.read"
CLIENT_WRITE = "Client.write"
APP_WRITE = "App.write"
APP_READ = "App.read"
DIRECTORY_READ = "Directory.read"  # SMART patients and practitioners
DIRECTORY_WRITE = "Directory.write"
LAUNCH_WRITE = "Launch.write"  # minting SMART EHR launch values
USER_READ = "User.read"
USER_WRITE = "User.write"
ROLE_WRITE = "Role.write"
SESSION_READ = "Session.read"
SESSION_WRITE = "Session.write"
USER_TOKEN_READ = "UserToken.read"
USER_TOKEN_WRITE = "UserToken.write"
ROLE_READ = "Role.read"
AUDIT_READ = "Audit.read"
EXCHANGE_USER_READ = "ExchangeUser.read"
EXCHANGE_USER_WRITE = "ExchangeUser.write"

# ---- management power -------------------------------------------------------------------------------
#
# A session token (``POST /api/v1/token/`` or the RFC 8693 grant) is what a backend hands its browser
# frontend. Anything in a browser can be read by a script, so such a token must never manage the
# platform: it never carries a permission on these resources, and the management API refuses it
# whatever its scope (docs/security.md, "Frontend tokens carry no management power").

#: Every resource of the management API (each constant above is ``<one of these>.<action>``), plus the
#: ones of the operator-level features (tenants, signing keys).
MANAGEMENT_RESOURCES = frozenset({
    "ApiKey", "Client", "App", "User", "Role", "Session", "UserToken", "Audit", "ExchangeUser",
    "Tenant", "Key", "SigningKey", "Directory", "Launch",
})

#: The claim every session token carries and no other token does (the id of the API key that vouched
#: for the user): it marks a token as one for a browser frontend.
SESSION_TOKEN_CLAIM = "api_key_id"


def grants_management(scope: str) -> bool:
    """True when ``scope`` covers some management permission: one on a management resource, or a
    wildcard resource (``*``, ``*.read``, ``*.*``), which covers every resource."""
    if scope == "*":
        return True
    resource, dot, action = scope.partition(".")
    if not dot or not action:
        return False
    return resource == "*" or resource in MANAGEMENT_RESOURCES


def without_management(scopes: list[str]) -> list[str]:
    """``scopes`` minus everything that would give management power (the scopes of a session token)."""
    return [scope for scope in scopes if not grants_management(scope)]


def is_session_token(claims: dict[str, object]) -> bool:
    """A token issued by the session exchange (either form) for a browser frontend."""
    return claims.get(SESSION_TOKEN_CLAIM) is not None
