"""tokensmith's client SDK (spec §I): token providers that are ``httpx.Auth`` (sync and async) and
``requests`` auths, with an in-memory cache per credential, refresh ahead of expiry, one token request
for any number of concurrent callers, one retry with a fresh token on a 401, a bounded wait on a 429 and
typed errors; and a small management client. Nothing here logs or ``repr()``s a secret.

    auth = ClientCredentialsAuth(issuer="https://auth.example.com", client_id=..., client_secret=...)
    httpx.get("https://api.example.com/fhir/Patient", auth=auth)

See ``docs/client.md``.
"""

from tokensmith.client.admin import (
    UNSET,
    AsyncTokensmithAdmin,
    CreatedApiKey,
    CreatedApp,
    CreatedUserToken,
    TokensmithAdmin,
)
from tokensmith.client.base import TokenAuth
from tokensmith.client.errors import (
    AccountDisabled,
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    InvalidApiKey,
    InvalidClient,
    InvalidCredentials,
    InvalidGrant,
    InvalidScope,
    MfaRequired,
    NotFound,
    ProtocolError,
    RateLimited,
    ServerError,
    TokensmithError,
    Unauthorized,
    UnknownUserToken,
    UserNotAllowed,
    UserTokenRevoked,
    ValidationFailed,
)
from tokensmith.client.exchange import PROVIDER_TYPES, ExchangeUser, SessionExchangeAuth
from tokensmith.client.options import Options
from tokensmith.client.password import PasswordAuth
from tokensmith.client.providers import ClientCredentialsAuth, UserTokenAuth
from tokensmith.client.sensitive import Secret
from tokensmith.client.tokens import AccessToken

__all__ = [
    "PROVIDER_TYPES",
    "UNSET",
    "AccessToken",
    "AccountDisabled",
    "AsyncTokensmithAdmin",
    "BadRequest",
    "ClientCredentialsAuth",
    "Conflict",
    "CreatedApiKey",
    "CreatedApp",
    "CreatedUserToken",
    "ExchangeUser",
    "Forbidden",
    "Gone",
    "InvalidApiKey",
    "InvalidClient",
    "InvalidCredentials",
    "InvalidGrant",
    "InvalidScope",
    "MfaRequired",
    "NotFound",
    "Options",
    "PasswordAuth",
    "ProtocolError",
    "RateLimited",
    "Secret",
    "ServerError",
    "SessionExchangeAuth",
    "TokenAuth",
    "TokensmithAdmin",
    "TokensmithError",
    "Unauthorized",
    "UnknownUserToken",
    "UserNotAllowed",
    "UserTokenAuth",
    "UserTokenRevoked",
    "ValidationFailed",
]
