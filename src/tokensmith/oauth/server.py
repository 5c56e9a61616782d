"""The authorization server: the registries of everything the protocol endpoints dispatch to — grants
(RFC 6749 §4), client-authentication methods (RFC 6749 §2.3), token formats (RFC 9068 JWT, opaque),
introspectors (RFC 7662) and revokers (RFC 7009) per credential kind, and scope languages. Built once
per runtime (:func:`tokensmith.authorization.build_authorization_server`); the HTTP endpoints and the
fast path only turn requests into :class:`OAuthRequest` and call :meth:`token`, :meth:`introspect` or
:meth:`revoke`. Discovery (:mod:`tokensmith.oauth.metadata`) is derived from the same registries.

No web framework and no ORM here: the guard library can use the same object in-process.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from tokensmith.codeflow.launch import LaunchResolver, NoLaunchContext
from tokensmith.codeflow.scope_words import ScopeWords
from tokensmith.errors import InvalidRequest
from tokensmith.oauth.client_auth import API_KEY, CLIENT, CallerPolicy, ClientAuthRegistry
from tokensmith.oauth.grants import GrantRegistry
from tokensmith.oauth.introspection import IntrospectionRegistry
from tokensmith.oauth.request import OAuthRequest
from tokensmith.oauth.revocation import RevocationRegistry
from tokensmith.oauth.token_endpoint import handle_token_request
from tokensmith.scopes import ScopeLanguages
from tokensmith.tokens.registry import TokenFormats

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

#: RFC 7662 §2.1: "the protected resource calls the introspection endpoint" — a client or an API key.
INTROSPECTION_CALLERS = CallerPolicy(frozenset({CLIENT, API_KEY}))
#: RFC 7009 §2.1: the client the token was issued to; public clients identify themselves by client_id.
REVOCATION_CALLERS = CallerPolicy(frozenset({CLIENT}), allow_public=True)


class AuthorizationServer:
    def __init__(self, rt: Runtime, *, formats: TokenFormats, scopes: ScopeLanguages | None = None) -> None:
        self._rt = rt
        self.grants = GrantRegistry()
        self.client_auth = ClientAuthRegistry()
        self.formats = formats
        self.introspectors = IntrospectionRegistry()
        self.revokers = RevocationRegistry()
        self.scopes = scopes or ScopeLanguages()
        #: the authorization endpoint's launch-context hook (SMART); by default none, and ``launch`` is refused
        self.launch_resolver: LaunchResolver = NoLaunchContext()
        #: plain-language scope descriptions for the consent page, one describer per scope language
        self.scope_words = ScopeWords()
        #: ``await token(req)``: RFC 6749 §3.2, the token endpoint's JSON response (errors raise
        #: :class:`OAuthError`). A partial, so the hot path pays no extra coroutine for the indirection.
        self.token: Callable[[OAuthRequest], Awaitable[dict[str, Any]]] = partial(
            handle_token_request, rt, self.grants, self.client_auth)

    async def introspect(self, req: OAuthRequest) -> dict[str, Any]:
        """RFC 7662 §2: the caller authenticates (§2.1), then the registered introspectors answer."""
        presented = self.client_auth.identify(req, INTROSPECTION_CALLERS)
        caller = await presented.method.authenticate(presented, req)
        token = req.form.get("token")
        if not token:
            raise InvalidRequest("token is required")
        return await self.introspectors.introspect(token, req.form.get("token_type_hint"), caller)

    async def revoke(self, req: OAuthRequest) -> None:
        """RFC 7009 §2: the client authenticates, then the registered revokers try the token."""
        presented = self.client_auth.identify(req, REVOCATION_CALLERS)
        client = await presented.method.authenticate(presented, req)
        token = req.form.get("token")
        if not token:
            raise InvalidRequest("token is required")
        await self.revokers.revoke(token, req.form.get("token_type_hint"), client, req)

    def metadata(self, *, service_documentation: bool = False) -> dict[str, Any]:
        from tokensmith.oauth.metadata import server_metadata

        ring = self._rt.keyring
        algs = sorted({k.alg for k in ring.keys.values() if k.status in ("active", "next", "retired")})
        return server_metadata(self, self._rt.settings.issuer, service_documentation=service_documentation,
                               signing_algs=algs)
