"""Validating an authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3, OpenID Connect Core §3.1.2.1).

Two stages, because of RFC 6749 §4.1.2.1: while the client or its redirect URI is in doubt nothing may be
sent to that URI (it could be anybody's), so those errors are :class:`PageError` — shown to the user on
the error page. Once both are known, errors are :class:`RedirectError` — sent back to the app at its
``redirect_uri`` with ``error``, ``error_description``, ``state`` and ``iss`` (RFC 9207).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit

from tokensmith.clients import ClientRecord
from tokensmith.codeflow.scope_words import IDENTITY_SCOPES
from tokensmith.inputs import has_control
from tokensmith.scopes import parse_scope

if TYPE_CHECKING:
    from tokensmith.oauth.server import AuthorizationServer
    from tokensmith.runtime import Runtime

GRANT_TYPE = "authorization_code"
PROMPTS = frozenset({"none", "login", "consent", "select_account"})
_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # BASE64URL(SHA-256(verifier)), unpadded: 43 characters
_SINGLE = ("client_id", "redirect_uri", "response_type", "scope", "state", "code_challenge",
           "code_challenge_method", "nonce", "prompt", "max_age", "aud", "launch", "response_mode", "auth_after")
MAX_AGE_LIMIT = 10 ** 9


class PageError(Exception):
    """An error shown on the error page, never redirected (the client or its redirect URI is in doubt)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class RedirectError(Exception):
    """An RFC 6749 §4.1.2.1 error, sent to the validated redirect URI."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass(frozen=True)
class AuthorizationRequest:
    client: ClientRecord
    redirect_uri: str
    #: whether the request named the redirect URI (then the token request must repeat it, §4.1.3)
    redirect_uri_given: bool
    state: str | None
    scopes: tuple[str, ...]
    code_challenge: str
    nonce: str | None
    prompt: frozenset[str]
    max_age: int | None
    audience: str | None
    launch: str | None
    #: the sign-in must be at least this recent (set when the request came back from a forced sign-in)
    auth_after: int | None

    @property
    def resource_scopes(self) -> tuple[str, ...]:
        return tuple(s for s in self.scopes if s not in IDENTITY_SCOPES)


def redirect_with(redirect_uri: str, params: dict[str, str | None]) -> str:
    """``redirect_uri`` with ``params`` added to its query (keeping the query it has, §3.1.2)."""
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return redirect_uri + ("&" if urlsplit(redirect_uri).query else "?") + query


@dataclass(frozen=True)
class ClientAndRedirect:
    """Stage one's result: the parameters (first of each), the names given more than once, the client and
    its validated redirect URI."""

    values: dict[str, str]
    duplicates: frozenset[str]
    client: ClientRecord
    redirect_uri: str
    redirect_uri_given: bool

    def error_redirect(self, error: RedirectError, issuer: str) -> str:
        return redirect_with(self.redirect_uri, {"error": error.error, "error_description": error.description,
                                                 "state": self.values.get("state") or None, "iss": issuer})


async def client_and_redirect(rt: Runtime, params: list[tuple[str, str]]) -> ClientAndRedirect:
    """Stage one: the client and its redirect URI, exactly as registered. Raises :class:`PageError`."""
    values: dict[str, str] = {}
    duplicates: set[str] = set()
    for name, value in params:
        if name in values and name in _SINGLE:
            duplicates.add(name)
        values.setdefault(name, value)
    if duplicates & {"client_id", "redirect_uri"}:
        raise PageError("The application sent client_id or redirect_uri more than once.")
    client_id = values.get("client_id", "")
    if not client_id:
        raise PageError("The application did not say who it is (client_id is missing).")
    if has_control(client_id) or len(client_id) > 100:
        raise PageError("The application's client_id is not valid.")
    client = await rt.clients.get(client_id)
    if client is None or not client.active or rt.tenants.is_disabled(client.tenant_id):
        raise PageError("This application is not known here (unknown or disabled client).")
    redirect_uri = values.get("redirect_uri")
    given = redirect_uri is not None
    if redirect_uri is None:
        if len(client.redirect_uris) != 1:
            raise PageError("The application did not say where to return to (redirect_uri is missing).")
        redirect_uri = client.redirect_uris[0]
    if redirect_uri not in client.redirect_uris:
        raise PageError("The application asked to return to an address it has not registered "
                        "(redirect_uri does not match).")
    return ClientAndRedirect(values, frozenset(duplicates), client, redirect_uri, given)


def validate(rt: Runtime, server: AuthorizationServer, found: ClientAndRedirect) -> AuthorizationRequest:
    """Stage two: everything else; raises :class:`RedirectError`."""
    values, client = found.values, found.client
    if found.duplicates:
        raise RedirectError("invalid_request", f"{sorted(found.duplicates)[0]} is given more than once")
    bad = [name for name, value in values.items() if name in _SINGLE and has_control(value)]
    if bad:
        raise RedirectError("invalid_request", f"{bad[0]} must not contain control characters")
    for unsupported in ("request", "request_uri"):
        if unsupported in values:
            raise RedirectError(f"{unsupported}_not_supported", f"the {unsupported} parameter is not supported")
    if values.get("response_type") != "code":
        raise RedirectError("unsupported_response_type", "response_type must be code")
    if values.get("response_mode", "query") != "query":
        raise RedirectError("invalid_request", "only response_mode=query is supported")
    if GRANT_TYPE not in client.grant_types:
        raise RedirectError("unauthorized_client", "this client may not use the authorization code flow")
    challenge = _pkce(values)
    scopes = _scopes(server, client, values.get("scope"))
    prompt = _prompt(values.get("prompt"))
    max_age = _bounded_int(values.get("max_age"), "max_age", MAX_AGE_LIMIT)
    auth_after = _bounded_int(values.get("auth_after"), "auth_after", int(rt.clock.now()) + 5)
    audience = values.get("aud") or None
    if audience is not None and audience.rstrip("/") != rt.settings.fhir_base:
        raise RedirectError("invalid_request", "aud must be this server's FHIR base URL")
    nonce = values.get("nonce") or None
    if nonce is not None and len(nonce) > 512:
        raise RedirectError("invalid_request", "nonce is longer than 512 characters")
    state = values.get("state") or None
    if state is not None and len(state) > 2000:
        raise RedirectError("invalid_request", "state is longer than 2000 characters")
    launch = values.get("launch") or None
    resolver = server.launch_resolver
    if (launch is not None or resolver.needs_context(scopes)) and not resolver.available:
        raise RedirectError("invalid_request", "EHR launch and launch-context scopes are not available on this "
                            "server (no launch context provider is configured)")
    return AuthorizationRequest(client=client, redirect_uri=found.redirect_uri,
                                redirect_uri_given=found.redirect_uri_given, state=state, scopes=scopes,
                                code_challenge=challenge, nonce=nonce, prompt=prompt, max_age=max_age,
                                audience=audience, launch=launch, auth_after=auth_after)


def _pkce(values: dict[str, str]) -> str:
    """RFC 7636 with S256 only: a missing challenge and ``plain`` (the default method) are refused."""
    challenge = values.get("code_challenge")
    if not challenge:
        raise RedirectError("invalid_request", "code_challenge is required (PKCE with S256)")
    if values.get("code_challenge_method") != "S256":
        raise RedirectError("invalid_request", "code_challenge_method must be S256 (plain is not accepted)")
    if not _CHALLENGE.match(challenge):
        raise RedirectError("invalid_request", "code_challenge must be 43 base64url characters (S256)")
    return challenge


def _scopes(server: AuthorizationServer, client: ClientRecord, raw: str | None) -> tuple[str, ...]:
    """The requested scopes; resource scopes must be within the client's allowance (an absent scope is
    the allowance itself, §3.3). Refresh-token scopes need the refresh grant."""
    try:
        requested = parse_scope(raw)
    except ValueError as exc:
        raise RedirectError("invalid_scope", str(exc)) from exc
    if not requested:
        return tuple(client.allowed_scopes)
    identity = [s for s in requested if s in IDENTITY_SCOPES]
    resource = [s for s in requested if s not in IDENTITY_SCOPES and s != "launch" and not s.startswith("launch/")]
    beyond = server.scopes.not_covered(client.allowed_scopes, resource)
    if beyond:
        raise RedirectError("invalid_scope", f"scope not allowed for this client: {' '.join(beyond)[:200]}")
    if {"offline_access", "online_access"} & set(identity) and "refresh_token" not in client.grant_types:
        raise RedirectError("invalid_scope", "this client may not get refresh tokens")
    if {"offline_access", "online_access"} <= set(identity):
        raise RedirectError("invalid_scope", "offline_access and online_access exclude each other")
    return tuple(requested)


def _prompt(raw: str | None) -> frozenset[str]:
    values = frozenset((raw or "").split())
    if values - PROMPTS:
        raise RedirectError("invalid_request", "prompt may only be none, login, consent or select_account")
    if "none" in values and len(values) > 1:
        raise RedirectError("invalid_request", "prompt=none cannot be combined with other values")
    return values


def _bounded_int(raw: str | None, name: str, limit: int) -> int | None:
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 12 or int(raw) > limit:
        raise RedirectError("invalid_request", f"{name} must be a whole number of seconds")
    return int(raw)
