"""The management API's calls (spec §E API keys, users, §F apps, §C user tokens, sessions), each
described once as a :class:`Call` — the request and how to read its answer — and sent by the sync
:class:`~tokensmith.client.admin.TokensmithAdmin` or the async
:class:`~tokensmith.client.admin.AsyncTokensmithAdmin`.

What the server shows once (an API key's secret, an app's client secret, a user token) comes back as a
:class:`~tokensmith.client.sensitive.Secret` beside the record, never inside a dict whose ``repr`` would
print it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from tokensmith.client.errors import ProtocolError
from tokensmith.client.sensitive import Secret

T = TypeVar("T")
JsonObject = dict[str, Any]


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


#: "leave this field as it is" in an update (``None`` clears a field that may be null)
UNSET: Any = _Unset()


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    json: object = None
    params: dict[str, str] | None = None
    expect: int = 200


@dataclass(frozen=True)
class CreatedApiKey:
    """A new (or rotated) API key: ``record`` is its view without the secret; ``api_key`` is the
    ``clientId:secret`` value for ``X-API-Key`` (shown once by the server: store it now)."""

    record: JsonObject
    api_key: Secret

    @property
    def id(self) -> str:
        return str(self.record["id"])

    @property
    def client_id(self) -> str:
        return str(self.record["clientId"])


@dataclass(frozen=True)
class CreatedUserToken:
    record: JsonObject
    token: Secret

    @property
    def id(self) -> str:
        return str(self.record["id"])


@dataclass(frozen=True)
class CreatedApp:
    record: JsonObject
    client_secret: Secret | None

    @property
    def client_id(self) -> str:
        return str(self.record["clientId"])


def _object(response: httpx.Response) -> JsonObject:
    body = response.json()
    if not isinstance(body, dict):
        raise ProtocolError("expected a JSON object", status=response.status_code)
    return body


def _list(response: httpx.Response) -> list[JsonObject]:
    body = response.json()
    if not isinstance(body, list):
        raise ProtocolError("expected a JSON list", status=response.status_code)
    return [item for item in body if isinstance(item, dict)]


def _nothing(response: httpx.Response) -> None:
    return None


def _api_key(response: httpx.Response) -> CreatedApiKey:
    record = _object(response)
    secret = record.pop("secret", None)
    if not isinstance(secret, str):
        raise ProtocolError("the API key response has no secret", status=response.status_code)
    return CreatedApiKey(record, Secret(f"{record['clientId']}:{secret}"))


def _user_token(response: httpx.Response) -> CreatedUserToken:
    record = _object(response)
    token = record.pop("token", None)
    if not isinstance(token, str):
        raise ProtocolError("the user-token response has no token", status=response.status_code)
    return CreatedUserToken(record, Secret(token))


def _app(response: httpx.Response) -> CreatedApp:
    record = _object(response)
    secret = record.pop("clientSecret", None)
    return CreatedApp(record, Secret(secret) if isinstance(secret, str) and secret else None)


def _seg(value: str) -> str:
    return quote(value, safe="")


def _instant(value: datetime | str | None) -> str | None:
    if isinstance(value, datetime):
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value


def _present(**fields: object) -> JsonObject:
    return {k: v for k, v in fields.items() if v is not UNSET}


# ---- API keys (spec §E) ----

def create_api_key(name: str, scopes: list[str], *, expires_at: datetime | str | None = None,
                   rate_limit: int | None = None, token_ttl: int | None = None,
                   allowed_organisations: list[str] | None = None,
                   allow_browser: bool = False) -> Call[CreatedApiKey]:
    body = {"name": name, "scopes": scopes, "expiresAt": _instant(expires_at), "rateLimit": rate_limit,
            "allowBrowser": allow_browser}
    if token_ttl is not None:
        body["tokenTtl"] = token_ttl
    if allowed_organisations is not None:
        body["allowedOrganisations"] = allowed_organisations
    return Call("POST", "/api-keys", _api_key, json=body, expect=201)


def list_api_keys(include_revoked: bool = False) -> Call[list[JsonObject]]:
    return Call("GET", "/api-keys", _list, params={"includeRevoked": str(include_revoked).lower()})


def get_api_key(key_id: str) -> Call[JsonObject]:
    return Call("GET", f"/api-keys/{_seg(key_id)}", _object)


def update_api_key(key_id: str, *, name: Any = UNSET, scopes: Any = UNSET, active: Any = UNSET,
                   rate_limit: Any = UNSET, expires_at: Any = UNSET, token_ttl: Any = UNSET,
                   allowed_organisations: Any = UNSET, allow_browser: Any = UNSET) -> Call[JsonObject]:
    when = UNSET if expires_at is UNSET else _instant(expires_at)
    body = _present(name=name, scopes=scopes, active=active, rateLimit=rate_limit, expiresAt=when,
                    tokenTtl=token_ttl, allowedOrganisations=allowed_organisations, allowBrowser=allow_browser)
    return Call("PATCH", f"/api-keys/{_seg(key_id)}", _object, json=body)


def revoke_api_key(key_id: str) -> Call[None]:
    return Call("DELETE", f"/api-keys/{_seg(key_id)}", _nothing, expect=204)


def rotate_api_key(key_id: str, grace_period_seconds: int = 0) -> Call[CreatedApiKey]:
    return Call("POST", f"/api-keys/{_seg(key_id)}/rotate", _api_key,
                json={"gracePeriodSeconds": grace_period_seconds})


# ---- users ----

def create_user(email: str, *, password: str | Secret | None = None, role: str = "member",
                project_permissions: list[str] | None = None, name: str | None = None) -> Call[JsonObject]:
    body: JsonObject = {"email": email, "role": role, "projectPermissions": project_permissions or []}
    if password is not None:
        body["password"] = password.reveal() if isinstance(password, Secret) else password
    if name is not None:
        body["name"] = name
    return Call("POST", "/users", _object, json=body, expect=201)


def list_users() -> Call[list[JsonObject]]:
    return Call("GET", "/users", _list)


def get_user(user_id: str) -> Call[JsonObject]:
    return Call("GET", f"/users/{_seg(user_id)}", _object)


def update_user(user_id: str, *, role: Any = UNSET, status: Any = UNSET, name: Any = UNSET,
                project_permissions: Any = UNSET, fhir_user: Any = UNSET) -> Call[JsonObject]:
    body = _present(role=role, status=status, name=name, projectPermissions=project_permissions,
                    fhirUser=fhir_user)
    return Call("PATCH", f"/users/{_seg(user_id)}", _object, json=body)


# ---- SMART apps (spec §F) ----

def create_app(name: str, *, scopes: list[str], redirect_uris: list[str] | None = None,
               is_confidential: bool = False, jwks: JsonObject | None = None,
               jwks_uri: str | None = None) -> Call[CreatedApp]:
    body: JsonObject = {"name": name, "scopes": scopes, "isConfidential": is_confidential}
    if redirect_uris is not None:
        body["redirectUris"] = redirect_uris
    if jwks is not None:
        body["jwks"] = jwks
    if jwks_uri is not None:
        body["jwksUri"] = jwks_uri
    return Call("POST", "/smart/apps", _app, json=body, expect=201)


def list_apps() -> Call[list[JsonObject]]:
    return Call("GET", "/smart/apps", _list)


def get_app(app_id: str) -> Call[JsonObject]:
    return Call("GET", f"/smart/apps/{_seg(app_id)}", _object)


def update_app(app_id: str, changes: JsonObject) -> Call[JsonObject]:
    return Call("PATCH", f"/smart/apps/{_seg(app_id)}", _object, json=changes)


def delete_app(app_id: str) -> Call[None]:
    return Call("DELETE", f"/smart/apps/{_seg(app_id)}", _nothing, expect=204)


# ---- personal user tokens (spec §C) and sessions ----

def create_user_token(name: str | None = None) -> Call[CreatedUserToken]:
    return Call("POST", "/user-tokens", _user_token, json={"name": name}, expect=201)


def list_user_tokens(user_id: str | None = None, include_revoked: bool = False) -> Call[list[JsonObject]]:
    params = {"include_revoked": str(include_revoked).lower()}
    if user_id is not None:
        params["user_id"] = user_id
    return Call("GET", "/user-tokens", _list, params=params)


def revoke_user_token(token_id: str) -> Call[None]:
    return Call("DELETE", f"/user-tokens/{_seg(token_id)}", _nothing, expect=204)


def list_sessions() -> Call[list[JsonObject]]:
    return Call("GET", "/sessions", _list)


def revoke_session(session_id: str) -> Call[None]:
    return Call("DELETE", f"/sessions/{_seg(session_id)}", _nothing, expect=204)
