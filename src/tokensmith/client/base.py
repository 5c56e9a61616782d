"""What every token provider shares: the cache, the token requests' own HTTP clients, and the
``httpx.Auth`` flows that put ``Authorization: Bearer`` on API requests and retry once with a fresh token
when the API answers 401 (the token was revoked, its key rotated, or it expired early).

A provider is a credential. Subclasses say how a token is obtained (:meth:`TokenAuth._flow`) and which
cache holds it (:meth:`TokenAuth._cache`, one per credential — per user for the session exchange).
"""

from __future__ import annotations

import threading
from collections.abc import AsyncGenerator, Generator
from typing import TYPE_CHECKING

import httpx

from tokensmith.client import flows
from tokensmith.client.options import DEFAULT_OPTIONS, Options
from tokensmith.client.tokens import AccessToken, TokenCache

if TYPE_CHECKING:
    from tokensmith.client.requests_auth import RequestsAuth


def issuer_url(issuer: str) -> str:
    issuer = issuer.strip().rstrip("/")
    if not issuer.startswith(("https://", "http://")):
        raise ValueError("issuer must be an http(s) URL")
    return issuer


class HttpClients:
    """The HTTP clients of a provider's token requests (made on first use, one sync and one async),
    kept apart from the integrator's API client: its base URL, hooks and auth do not apply to them."""

    def __init__(self, options: Options) -> None:
        self._options = options
        self._http: httpx.Client | None = None
        self._async_http: httpx.AsyncClient | None = None
        self._lock = threading.Lock()

    def send(self, request: httpx.Request) -> httpx.Response:
        if self._http is None:
            with self._lock:
                if self._http is None:
                    self._http = httpx.Client(transport=self._options.transport, timeout=self._options.timeout)
        response = self._http.send(request)
        response.read()
        return response

    async def asend(self, request: httpx.Request) -> httpx.Response:
        if self._async_http is None:
            self._async_http = httpx.AsyncClient(transport=self._options.async_transport,
                                                 timeout=self._options.timeout)
        response = await self._async_http.send(request)
        await response.aread()
        return response

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    async def aclose(self) -> None:
        self.close()
        if self._async_http is not None:
            await self._async_http.aclose()
            self._async_http = None


class TokenAuth(httpx.Auth):
    """Base of the providers: an ``httpx.Auth`` (sync and async) whose token comes from tokensmith."""

    requires_request_body = True  # the body must be resendable for the retry after a 401

    def __init__(self, issuer: str, options: Options | None = None) -> None:
        self.issuer = issuer_url(issuer)
        self.options = options or DEFAULT_OPTIONS
        self._clients = HttpClients(self.options)

    # ---- what subclasses provide ----

    def _cache(self) -> TokenCache:
        raise NotImplementedError

    def _flow(self) -> flows.TokenFlow:
        raise NotImplementedError

    # ---- tokens ----

    def get_token(self, avoid: AccessToken | None = None) -> AccessToken:
        """The current token (fetched when there is none, it is due for refresh, or it is ``avoid``)."""
        return self._cache().get(lambda: flows.run(self._flow, self._send, self.options), avoid)

    async def aget_token(self, avoid: AccessToken | None = None) -> AccessToken:
        async def fetch() -> AccessToken:
            return await flows.arun(self._flow, self._asend, self.options)

        return await self._cache().aget(fetch, avoid)

    def token(self) -> str:
        """The access token itself, e.g. to hand to a frontend."""
        return self.get_token().value.reveal()

    async def atoken(self) -> str:
        return (await self.aget_token()).value.reveal()

    def invalidate(self) -> None:
        """Forget the cached token (the next request fetches a new one)."""
        self._cache().clear()

    @property
    def token_requests(self) -> int:
        """How many times this credential's token was fetched."""
        return self._cache().fetches

    # ---- httpx.Auth ----

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.get_token()
        request.headers["Authorization"] = f"Bearer {token.value.reveal()}"
        response = yield request
        if response.status_code == 401 and self.options.retry_on_401:
            fresh = self.get_token(avoid=token)
            request.headers["Authorization"] = f"Bearer {fresh.value.reveal()}"
            yield request

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.aget_token()
        request.headers["Authorization"] = f"Bearer {token.value.reveal()}"
        response = yield request
        if response.status_code == 401 and self.options.retry_on_401:
            fresh = await self.aget_token(avoid=token)
            request.headers["Authorization"] = f"Bearer {fresh.value.reveal()}"
            yield request

    def for_requests(self) -> RequestsAuth:
        """The same credential (and cache) as a ``requests`` auth (``pip install tokensmith[client-requests]``)."""
        from tokensmith.client.requests_auth import RequestsAuth

        return RequestsAuth(self)

    # ---- the token requests' HTTP clients ----

    def _send(self, request: httpx.Request) -> httpx.Response:
        return self._clients.send(request)

    async def _asend(self, request: httpx.Request) -> httpx.Response:
        return await self._clients.asend(request)

    def close(self) -> None:
        self._clients.close()

    async def aclose(self) -> None:
        await self._clients.aclose()

    def __enter__(self) -> TokenAuth:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> TokenAuth:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(issuer={self.issuer!r})"
