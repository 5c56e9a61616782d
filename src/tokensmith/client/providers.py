"""Token providers for a backend's own credential: OAuth 2.0 client credentials (spec §B, with a client
secret or ``private_key_jwt``) and a personal user token (spec §C)."""

from __future__ import annotations

import base64
from urllib.parse import quote_plus, urlencode

import httpx

from tokensmith.client.assertion import ASSERTION_TYPE, AssertionSigner, PrivateKey
from tokensmith.client.base import TokenAuth
from tokensmith.client.errors import ProtocolError, error_for
from tokensmith.client.flows import TokenFlow, discover_token_endpoint, json_object
from tokensmith.client.options import Options
from tokensmith.client.sensitive import Secret, secret
from tokensmith.client.tokens import AccessToken, TokenCache

FORM = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
#: the lifetime the SDK assumes for a user token's access token, which the response does not state
USER_ACCESS_TOKEN_LIFETIME = 600.0


def _form(fields: dict[str, str]) -> bytes:
    return urlencode(fields).encode()


def _basic(client_id: str, client_secret: Secret) -> str:
    """RFC 6749 §2.3.1: each part form-encoded, then Base64."""
    raw = f"{quote_plus(client_id)}:{quote_plus(client_secret.reveal())}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def _lifetime(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return float(value)


class ClientCredentialsAuth(TokenAuth):
    """``grant_type=client_credentials`` with ``client_secret`` (HTTP Basic) or ``private_key`` (a signed
    client assertion). The token endpoint is found through the issuer's metadata unless ``token_url`` is
    given (for SMART backend services: the ``token_endpoint`` of ``/.well-known/smart-configuration``)."""

    def __init__(self, *, issuer: str, client_id: str, client_secret: str | Secret | None = None,
                 private_key: str | bytes | PrivateKey | None = None, key_id: str | None = None,
                 scope: str | list[str] | None = None, token_url: str | None = None,
                 options: Options | None = None) -> None:
        super().__init__(issuer, options)
        if (client_secret is None) == (private_key is None):
            raise ValueError("give exactly one of client_secret and private_key")
        if not client_id:
            raise ValueError("client_id is required")
        self.client_id = client_id
        self._secret = secret(client_secret) if client_secret is not None else None
        self._signer = AssertionSigner.load(private_key, key_id=key_id) if private_key is not None else None
        self.scope = " ".join(scope) if isinstance(scope, list) else scope
        self.token_url = token_url
        self._tokens = TokenCache(self.options.clock)

    def _cache(self) -> TokenCache:
        return self._tokens

    def _flow(self) -> TokenFlow:
        if self.token_url is None:
            self.token_url = yield from discover_token_endpoint(self.issuer)
        fields = {"grant_type": "client_credentials"}
        if self.scope:
            fields["scope"] = self.scope
        headers = dict(FORM)
        if self._signer is not None:
            fields["client_assertion_type"] = ASSERTION_TYPE
            fields["client_assertion"] = self._signer.sign(self.client_id, self.token_url, self.options.clock())
        else:
            assert self._secret is not None
            headers["Authorization"] = _basic(self.client_id, self._secret)
        now = self.options.clock()
        response = yield httpx.Request("POST", self.token_url, content=_form(fields), headers=headers)
        if response.status_code != 200:
            raise error_for(response, "token")
        body = json_object(response)
        value = body.get("access_token")
        if not isinstance(value, str) or not value:
            raise ProtocolError("the token response has no access_token", status=200)
        extra: dict[str, object] = {k: body[k] for k in ("scope", "token_type") if k in body}
        return AccessToken.issued(value, now=now, lifetime=_lifetime(body.get("expires_in")),
                                  options=self.options, extra=extra)

    def __repr__(self) -> str:
        method = "private_key_jwt" if self._signer is not None else "client_secret_basic"
        return f"ClientCredentialsAuth(issuer={self.issuer!r}, client_id={self.client_id!r}, method={method!r})"


class UserTokenAuth(TokenAuth):
    """A personal user token (long-lived, revocable) exchanged at ``POST /api/user/oauth2/token`` for
    short-lived opaque access tokens; when one expires (or the API refuses it) the next is fetched.

    The response does not say how long the access token lives: the SDK assumes ``access_token_lifetime``
    (the server's default, 10 minutes) and relies on the 401 retry should the server be configured
    shorter. A revoked user token raises :class:`~tokensmith.client.errors.UserTokenRevoked`."""

    PATH = "/api/user/oauth2/token"

    def __init__(self, *, issuer: str, user_token: str | Secret,
                 access_token_lifetime: float = USER_ACCESS_TOKEN_LIFETIME, options: Options | None = None) -> None:
        super().__init__(issuer, options)
        self._user_token = secret(user_token)
        if access_token_lifetime <= 0:
            raise ValueError("access_token_lifetime must be positive")
        self.access_token_lifetime = access_token_lifetime
        self._tokens = TokenCache(self.options.clock)

    def _cache(self) -> TokenCache:
        return self._tokens

    def _flow(self) -> TokenFlow:
        fields = {"grant_type": "refresh_token", "refresh_token": self._user_token.reveal()}
        now = self.options.clock()
        response = yield httpx.Request("POST", self.issuer + self.PATH, content=_form(fields), headers=FORM)
        if response.status_code != 200:
            raise error_for(response, "user_token")
        body = json_object(response)
        value = body.get("access_token")
        if not isinstance(value, str) or not value:
            raise ProtocolError("the user-token response has no access_token", status=200)
        extra: dict[str, object] = {k: body[k] for k in ("user_id", "session_id", "role", "role_permissions",
                                      "project_permissions", "tenant") if k in body}
        return AccessToken.issued(value, now=now, lifetime=self.access_token_lifetime, options=self.options,
                                  extra=extra)
