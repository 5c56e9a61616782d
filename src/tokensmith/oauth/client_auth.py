"""Client authentication (RFC 6749 §2.3, RFC 7591 §2 ``token_endpoint_auth_method``): a registry of
methods, each a small object that says whether a request carries its credentials and then checks them.

Shipped: ``client_secret_basic`` (credentials form-urlencoded, then Base64), ``client_secret_post``,
``none`` for public clients where the endpoint or grant allows them (this module), and "an API key is the
caller" (:mod:`tokensmith.apikeys.caller`). RFC 6749 §2.3: "The client MUST NOT use more than one
authentication method in each request" — so a request matching two methods is ``invalid_request``.

A client authenticates with the method it registered (RFC 7591 §2: ``token_endpoint_auth_method``,
default ``client_secret_basic``); its secret in the form body when it registered ``client_secret_basic``
(or the reverse) is ``invalid_client``. Failed attempts are throttled per client id and per client IP; a
throttled caller gets 429 before the secret is even compared.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, Protocol
from urllib.parse import unquote_plus

from tokensmith.clients.records import ClientRecord
from tokensmith.errors import InvalidClient, InvalidRequest, RateLimited
from tokensmith.inputs import NUL_MESSAGE, has_nul
from tokensmith.oauth.request import OAuthRequest, check_identifier

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

CLIENT = "client"  # caller kind: an OAuth client (ClientRecord)
API_KEY = "api_key"  # caller kind: an API key (ApiKeyRecord)


class Caller(Protocol):
    """What the protocol core needs of an authenticated caller (an OAuth client or an API key)."""

    @property
    def tenant_id(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Presented:
    """Credentials a request carries for one method, not yet checked."""

    method: ClientAuthMethod
    client_id: str
    secret: str | None
    #: HTTP Basic was used: RFC 6749 §5.2 then wants ``WWW-Authenticate`` on a 401
    basic: bool = False
    #: what the method parsed to find the client (a client assertion's parts), so it is parsed once
    parsed: Any = None


@dataclass(frozen=True, eq=False)
class CallerPolicy:
    """Who may call an endpoint or grant: the caller kinds it accepts, and whether public clients
    (method ``none``) are allowed. Compared by identity: policies are constants, and the per-request
    lookup of their methods then hashes nothing."""

    kinds: frozenset[str]
    allow_public: bool = False


CONFIDENTIAL_CLIENTS = CallerPolicy(frozenset({CLIENT}))


class ClientAuthMethod(Protocol):
    #: the RFC 7591 ``token_endpoint_auth_method`` value (advertised in discovery for client methods)
    name: str
    #: the kind of caller it authenticates (:data:`CLIENT` or :data:`API_KEY`)
    caller_kind: str
    #: identifies a public client without proving anything (``none``): allowed only where the policy
    #: says so, and considered only when no other method's credentials are present
    public: bool

    def presented(self, req: OAuthRequest, *, exclusive: bool) -> Presented | None:
        """The credentials of this method in ``req``, or None. ``exclusive``: this is the only method
        the endpoint accepts (a method may then read the generic credential slots)."""
        ...

    #: ``await authenticate(presented, req)``: the authenticated caller; raises :class:`InvalidClient`
    #: (or 429 when throttled). An attribute, so that methods sharing one checker bind it directly (no
    #: extra coroutine per request).
    @property
    def authenticate(self) -> Callable[[Presented, OAuthRequest], Awaitable[Any]]: ...


class ClientAuthRegistry:
    def __init__(self) -> None:
        self._methods: dict[str, ClientAuthMethod] = {}
        self._by_policy: dict[CallerPolicy, tuple[tuple[ClientAuthMethod, ...], tuple[ClientAuthMethod, ...]]] = {}

    def register(self, method: ClientAuthMethod) -> None:
        self._methods[method.name] = method
        self._by_policy.clear()

    def get(self, name: str) -> ClientAuthMethod | None:
        return self._methods.get(name)

    def methods_for(self, policy: CallerPolicy) -> tuple[tuple[ClientAuthMethod, ...], tuple[ClientAuthMethod, ...]]:
        """(methods that prove something, public methods) the policy accepts; computed once per policy."""
        found = self._by_policy.get(policy)
        if found is None:
            accepted = [m for m in self._methods.values() if m.caller_kind in policy.kinds]
            found = (tuple(m for m in accepted if not m.public),
                     tuple(m for m in accepted if m.public and policy.allow_public))
            self._by_policy[policy] = found
        return found

    def names_for(self, policy: CallerPolicy, kind: str = CLIENT) -> list[str]:
        """The method names a policy accepts for one caller kind (what discovery advertises)."""
        strong, public = self.methods_for(policy)
        return [m.name for m in strong + public if m.caller_kind == kind]

    def registrable(self) -> tuple[str, ...]:
        """The ``token_endpoint_auth_method`` values a confidential OAuth client may register (RFC 7591
        §2): every registered client method that proves something. ``none`` is not chosen but implied by a
        public client, and API keys are not OAuth clients."""
        return tuple(m.name for m in self._methods.values() if m.caller_kind == CLIENT and not m.public)

    def identify(self, req: OAuthRequest, policy: CallerPolicy) -> Presented:
        """The one method whose credentials ``req`` carries (synchronous: no await on the hot path)."""
        strong, public = self._by_policy.get(policy) or self.methods_for(policy)
        exclusive = len(strong) + len(public) == 1
        found: Presented | None = None
        for method in strong:
            presented = method.presented(req, exclusive=exclusive)
            if presented is not None:
                if found is not None:
                    raise InvalidRequest("use exactly one client authentication method")
                found = presented
        if found is None:
            for method in public:
                found = method.presented(req, exclusive=exclusive)
                if found is not None:
                    break
        if found is None:
            raise InvalidClient("client authentication is required", basic=False)
        return found


async def refuse_if_throttled(rt: Runtime, client_id: str, req: OAuthRequest) -> None:
    """Failed client authentications are throttled per client id and per address, whatever the method."""
    limit = rt.settings.client_auth_failures_per_minute
    retry = await rt.limiter.exceeded(limit, "client-auth-fail", client_id)
    if retry is None:
        retry = await rt.limiter.exceeded(limit * 5, "client-auth-fail-ip", req.client_ip or "-")
    if retry is not None:
        rt.audit.record("client.auth_throttled", subject=client_id[:100], ip=req.client_ip,
                        request_id=req.request_id)
        raise RateLimited(retry, "too many failed client authentications; retry later", oauth=True)


async def refuse_failed(rt: Runtime, client: ClientRecord | None, client_id: str, req: OAuthRequest, reason: str,
                        *, method: str, basic: bool) -> NoReturn:
    """A refused client authentication: counted for the throttle, audited with its reason, ``invalid_client``."""
    limit = rt.settings.client_auth_failures_per_minute
    await rt.limiter.hit(limit, "client-auth-fail", client_id, announce=True)
    await rt.limiter.hit(limit * 5, "client-auth-fail-ip", req.client_ip or "-", announce=True)
    rt.audit.record("client.auth_failed", tenant_id=client.tenant_id if client else None,
                    subject=client_id[:100], ip=req.client_ip, request_id=req.request_id, reason=reason,
                    method=method)
    rt.metrics.auth_failures.labels("client").inc()
    raise InvalidClient(basic=basic, debug=reason)


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """Credentials of an ``Authorization: Basic`` header, or None when the header is not Basic."""
    if not header:
        return None
    scheme, _, payload = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(payload.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidClient("malformed Basic credentials", basic=True) from exc
    user, sep, password = decoded.partition(":")
    if not sep:
        raise InvalidClient("malformed Basic credentials", basic=True)
    user, password = unquote_plus(user), unquote_plus(password)
    if has_nul(password):
        raise InvalidRequest("the Basic credentials " + NUL_MESSAGE)
    return check_identifier(user, "the Basic user name (client_id)"), password


class ClientSecretBasic:
    name = "client_secret_basic"
    caller_kind = CLIENT
    public = False

    def __init__(self, clients: OAuthClientAuthenticator) -> None:
        self.authenticate = clients.authenticate

    def presented(self, req: OAuthRequest, *, exclusive: bool) -> Presented | None:
        basic = parse_basic(req.headers.get("authorization"))
        if basic is None:
            return None
        # RFC 6749 §3.1: "Parameters sent without a value MUST be treated as if they were omitted."
        form_id = req.get("client_id")
        if form_id is not None and form_id != basic[0]:
            raise InvalidRequest("client_id does not match the authenticated client")
        return Presented(self, basic[0], basic[1], basic=True)


class ClientSecretPost:
    name = "client_secret_post"
    caller_kind = CLIENT
    public = False

    def __init__(self, clients: OAuthClientAuthenticator) -> None:
        self.authenticate = clients.authenticate

    def presented(self, req: OAuthRequest, *, exclusive: bool) -> Presented | None:
        secret = req.get("client_secret")
        if secret is None:
            return None
        return Presented(self, req.get("client_id") or "", secret)


class NoClientAuthentication:
    """``none``: a public client names itself with ``client_id`` (RFC 6749 §2.1; PKCE protects the grants
    that allow it)."""

    name = "none"
    caller_kind = CLIENT
    public = True

    def __init__(self, clients: OAuthClientAuthenticator) -> None:
        self.authenticate = clients.authenticate

    def presented(self, req: OAuthRequest, *, exclusive: bool) -> Presented | None:
        client_id = req.get("client_id")
        return Presented(self, client_id, None) if client_id is not None else None


class OAuthClientAuthenticator:
    """What every OAuth-client method shares: throttling, the client lookup, the secret check (current
    or previous secret within its grace) and the registered method."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    async def authenticate(self, presented: Presented, req: OAuthRequest) -> ClientRecord:
        rt = self._rt
        client_id, secret, method = presented.client_id, presented.secret, presented.method.name
        if not client_id:
            raise InvalidClient("client_id is required", basic=presented.basic)
        check_identifier(client_id, "client_id")
        await refuse_if_throttled(rt, client_id, req)
        client: ClientRecord | None = await rt.clients.get(client_id) if len(client_id) <= 100 else None
        reason = self._refusal(client, secret, method)
        if reason is None and client is not None and rt.tenants.is_disabled(client.tenant_id):
            reason = "tenant disabled"
        if reason is not None:
            await refuse_failed(rt, client, client_id, req, reason, method=method, basic=presented.basic)
        assert client is not None
        return client

    def _refusal(self, client: ClientRecord | None, secret: str | None, method: str) -> str | None:
        """Why the client is refused (for logs only), or None. The secret is compared before the method,
        so a wrong method costs the same time as a wrong secret."""
        master = self._rt.master
        if client is None:
            master.verify_secret(secret or "", None)  # same work as for a known client
            return "unknown client"
        if not client.active:
            return "client disabled"
        if secret is None:
            return "confidential client sent no secret" if client.is_confidential else None
        if not client.is_confidential or client.secret_hash is None:
            return "public client sent a secret"
        if not master.verify_secret(secret, client.secret_hash) and not self._previous_secret_ok(client, secret):
            return "wrong secret"
        # RFC 7591 §2: the client authenticates with the method it registered.
        if client.auth_method != method:
            return f"client registered for {client.auth_method}, used {method}"
        return None

    def _previous_secret_ok(self, client: ClientRecord, secret: str) -> bool:
        if client.previous_secret_hash is None or client.previous_secret_expires_at is None:
            return False
        if client.previous_secret_expires_at <= self._rt.clock.now():
            return False
        return bool(self._rt.master.verify_secret(secret, client.previous_secret_hash))


def register_client_methods(registry: ClientAuthRegistry, rt: Runtime) -> None:
    """The OAuth-client methods tokensmith ships, sharing one authenticator."""
    clients = OAuthClientAuthenticator(rt)
    registry.register(ClientSecretBasic(clients))
    registry.register(ClientSecretPost(clients))
    registry.register(NoClientAuthentication(clients))
