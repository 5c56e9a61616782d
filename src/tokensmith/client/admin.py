"""A small management client for the platform's operators and backends: API keys, users, SMART apps,
personal user tokens and sessions, sync (:class:`TokensmithAdmin`) and async (:class:`AsyncTokensmithAdmin`).

It authenticates with any provider of this SDK (an admin's :class:`~tokensmith.client.PasswordAuth`, or a
:class:`~tokensmith.client.ClientCredentialsAuth` of a client holding ``ApiKey.*``), so its token is cached,
refreshed and retried like any other. Failures raise the typed errors of :mod:`tokensmith.client.errors`.
The SMART app calls follow the spec's ``/smart/apps`` contract (§F); a server without the SMART feature
answers them 404 (:class:`~tokensmith.client.errors.NotFound`).
"""

from __future__ import annotations

from typing import Any, TypeVar

import httpx

from tokensmith.client import admin_calls as calls
from tokensmith.client.admin_calls import UNSET, Call, CreatedApiKey, CreatedApp, CreatedUserToken, JsonObject
from tokensmith.client.base import issuer_url
from tokensmith.client.errors import error_for

T = TypeVar("T")


def _request(call: Call[Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"params": call.params}
    if call.json is not None:
        kwargs["json"] = call.json
    return kwargs


def _result(call: Call[T], response: httpx.Response) -> T:
    if response.status_code != call.expect:
        raise error_for(response, "api")
    return call.parse(response)


class TokensmithAdmin:
    def __init__(self, *, issuer: str, auth: httpx.Auth, transport: httpx.BaseTransport | None = None,
                 timeout: float = 10.0) -> None:
        self.issuer = issuer_url(issuer)
        self._http = httpx.Client(base_url=self.issuer, auth=auth, transport=transport, timeout=timeout)

    def _run(self, call: Call[T]) -> T:
        return _result(call, self._http.request(call.method, call.path, **_request(call)))

    def create_api_key(self, name: str, scopes: list[str], **options: Any) -> CreatedApiKey:
        """``options``: expires_at, rate_limit, token_ttl, allowed_organisations, allow_browser."""
        return self._run(calls.create_api_key(name, scopes, **options))

    def list_api_keys(self, include_revoked: bool = False) -> list[JsonObject]:
        return self._run(calls.list_api_keys(include_revoked))

    def get_api_key(self, key_id: str) -> JsonObject:
        return self._run(calls.get_api_key(key_id))

    def update_api_key(self, key_id: str, **changes: Any) -> JsonObject:
        """``changes``: name, scopes, active, rate_limit, expires_at, token_ttl, allowed_organisations,
        allow_browser (``None`` clears the nullable ones)."""
        return self._run(calls.update_api_key(key_id, **changes))

    def revoke_api_key(self, key_id: str) -> None:
        self._run(calls.revoke_api_key(key_id))

    def rotate_api_key(self, key_id: str, grace_period_seconds: int = 0) -> CreatedApiKey:
        return self._run(calls.rotate_api_key(key_id, grace_period_seconds))

    def create_user(self, email: str, **options: Any) -> JsonObject:
        """``options``: password, role, project_permissions, name."""
        return self._run(calls.create_user(email, **options))

    def list_users(self) -> list[JsonObject]:
        return self._run(calls.list_users())

    def get_user(self, user_id: str) -> JsonObject:
        return self._run(calls.get_user(user_id))

    def update_user(self, user_id: str, **changes: Any) -> JsonObject:
        """``changes``: role, status (``"active"`` / ``"disabled"``), name, project_permissions, fhir_user."""
        return self._run(calls.update_user(user_id, **changes))

    def create_app(self, name: str, **options: Any) -> CreatedApp:
        """``options``: scopes, redirect_uris, is_confidential, jwks, jwks_uri (spec §F)."""
        return self._run(calls.create_app(name, **options))

    def list_apps(self) -> list[JsonObject]:
        return self._run(calls.list_apps())

    def get_app(self, app_id: str) -> JsonObject:
        return self._run(calls.get_app(app_id))

    def update_app(self, app_id: str, changes: JsonObject) -> JsonObject:
        return self._run(calls.update_app(app_id, changes))

    def delete_app(self, app_id: str) -> None:
        self._run(calls.delete_app(app_id))

    def create_user_token(self, name: str | None = None) -> CreatedUserToken:
        """A personal user token of the calling user (the token is shown once)."""
        return self._run(calls.create_user_token(name))

    def list_user_tokens(self, user_id: str | None = None, include_revoked: bool = False) -> list[JsonObject]:
        return self._run(calls.list_user_tokens(user_id, include_revoked))

    def revoke_user_token(self, token_id: str) -> None:
        self._run(calls.revoke_user_token(token_id))

    def list_sessions(self) -> list[JsonObject]:
        return self._run(calls.list_sessions())

    def revoke_session(self, session_id: str) -> None:
        self._run(calls.revoke_session(session_id))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TokensmithAdmin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TokensmithAdmin(issuer={self.issuer!r})"


class AsyncTokensmithAdmin:
    def __init__(self, *, issuer: str, auth: httpx.Auth, transport: httpx.AsyncBaseTransport | None = None,
                 timeout: float = 10.0) -> None:
        self.issuer = issuer_url(issuer)
        self._http = httpx.AsyncClient(base_url=self.issuer, auth=auth, transport=transport, timeout=timeout)

    async def _run(self, call: Call[T]) -> T:
        return _result(call, await self._http.request(call.method, call.path, **_request(call)))

    async def create_api_key(self, name: str, scopes: list[str], **options: Any) -> CreatedApiKey:
        return await self._run(calls.create_api_key(name, scopes, **options))

    async def list_api_keys(self, include_revoked: bool = False) -> list[JsonObject]:
        return await self._run(calls.list_api_keys(include_revoked))

    async def get_api_key(self, key_id: str) -> JsonObject:
        return await self._run(calls.get_api_key(key_id))

    async def update_api_key(self, key_id: str, **changes: Any) -> JsonObject:
        return await self._run(calls.update_api_key(key_id, **changes))

    async def revoke_api_key(self, key_id: str) -> None:
        await self._run(calls.revoke_api_key(key_id))

    async def rotate_api_key(self, key_id: str, grace_period_seconds: int = 0) -> CreatedApiKey:
        return await self._run(calls.rotate_api_key(key_id, grace_period_seconds))

    async def create_user(self, email: str, **options: Any) -> JsonObject:
        return await self._run(calls.create_user(email, **options))

    async def list_users(self) -> list[JsonObject]:
        return await self._run(calls.list_users())

    async def get_user(self, user_id: str) -> JsonObject:
        return await self._run(calls.get_user(user_id))

    async def update_user(self, user_id: str, **changes: Any) -> JsonObject:
        return await self._run(calls.update_user(user_id, **changes))

    async def create_app(self, name: str, **options: Any) -> CreatedApp:
        return await self._run(calls.create_app(name, **options))

    async def list_apps(self) -> list[JsonObject]:
        return await self._run(calls.list_apps())

    async def get_app(self, app_id: str) -> JsonObject:
        return await self._run(calls.get_app(app_id))

    async def update_app(self, app_id: str, changes: JsonObject) -> JsonObject:
        return await self._run(calls.update_app(app_id, changes))

    async def delete_app(self, app_id: str) -> None:
        await self._run(calls.delete_app(app_id))

    async def create_user_token(self, name: str | None = None) -> CreatedUserToken:
        return await self._run(calls.create_user_token(name))

    async def list_user_tokens(self, user_id: str | None = None, include_revoked: bool = False) -> list[JsonObject]:
        return await self._run(calls.list_user_tokens(user_id, include_revoked))

    async def revoke_user_token(self, token_id: str) -> None:
        await self._run(calls.revoke_user_token(token_id))

    async def list_sessions(self) -> list[JsonObject]:
        return await self._run(calls.list_sessions())

    async def revoke_session(self, session_id: str) -> None:
        await self._run(calls.revoke_session(session_id))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncTokensmithAdmin:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AsyncTokensmithAdmin(issuer={self.issuer!r})"


__all__ = ["UNSET", "AsyncTokensmithAdmin", "CreatedApiKey", "CreatedApp", "CreatedUserToken", "TokensmithAdmin"]
