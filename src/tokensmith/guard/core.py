"""The guard: turns the credential of a request into a :class:`Principal` or a refusal.

* ``Authorization: Bearer <JWT>``: verified locally (:mod:`tokensmith.guard.jwks`, the core's
  :func:`~tokensmith.jose.tokens.verify_jwt`: pinned algorithm, ``typ`` ``at+jwt``, ``iss``, ``exp``, ``nbf``
  with a small leeway), then ``aud`` by the core's rule (:mod:`tokensmith.tokens.audience`), then the
  revocation view by the core's rule (:func:`tokensmith.tokens.revoked.revoked_reason`). A verified token is
  remembered (keyed hash → claims), so a reused one costs a dictionary look-up plus the expiry and revocation
  checks, which run on every request.
* ``Authorization: Bearer <opaque>`` and ``X-API-Key: clientId:secret``: introspection, cached
  (:mod:`tokensmith.guard.introspection`).
* With a resource-server client it follows the revocation feed (:mod:`tokensmith.guard.feed`) and fails
  closed (503) when the feed has been silent for longer than ``staleness``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from tokensmith.clock import Clock, SystemClock
from tokensmith.errors import InvalidRequest, InvalidToken, RateLimited, ServiceError, ServiceUnavailable
from tokensmith.guard.errors import MissingCredential, insufficient_scope
from tokensmith.guard.feed import FeedFollower
from tokensmith.guard.introspection import Answer, IntrospectionClient, KeyedHash
from tokensmith.guard.jwks import DiscoveryError, JwksCache
from tokensmith.guard.metrics import GuardMetrics
from tokensmith.guard.principal import Principal
from tokensmith.guard.scopes import guard_scope_languages
from tokensmith.guard.settings import GuardSettings
from tokensmith.inputs import has_control
from tokensmith.jose.tokens import JwtVerificationError, unverified_header, verify_jwt
from tokensmith.scopes import ScopeLanguages
from tokensmith.tokens.audience import audience_accepted
from tokensmith.tokens.revoked import revoked_reason

log = logging.getLogger("tokensmith.guard")
_RETRY_AFTER = 5


class _NoTenantStates:
    """The guard learns of disabled tenants from the feed's ``tenant`` cut-offs alone."""

    def is_disabled(self, tenant: object) -> bool:
        return False


_TENANTS = _NoTenantStates()


@dataclass(slots=True)
class _Verified:
    principal: Principal
    claims: dict[str, Any]
    kid: str
    exp: float
    #: the revocation view's version when this token was last found not revoked
    checked: int = -1


class Guard:
    def __init__(self, settings: GuardSettings, *, clock: Clock | None = None, scopes: ScopeLanguages | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.scopes = scopes or guard_scope_languages()
        self._http = httpx.AsyncClient(timeout=settings.http_timeout, transport=transport)
        self._hash = KeyedHash()
        self._tokens: dict[bytes, _Verified] = {}
        self.jwks = JwksCache(self._http, settings, self.clock, refresh_interval=settings.jwks_refresh_interval)
        self._smart_configuration: tuple[float, dict[str, Any]] | None = None
        self.introspection: IntrospectionClient | None = None
        self.feed: FeedFollower | None = None
        if settings.client_id is not None and settings.client_secret is not None:
            auth = httpx.BasicAuth(settings.client_id, settings.client_secret)
            self.introspection = IntrospectionClient(self._http, auth, self.clock, ttl=settings.introspection_ttl,
                                                     negative_ttl=settings.negative_ttl,
                                                     max_entries=settings.introspection_cache_size)
            self.feed = FeedFollower(self._http, settings.feed_url, auth, self.clock, wait=settings.feed_wait,
                                     staleness=settings.staleness, on_entry=self._on_entry,
                                     redis_url=settings.redis_url, namespace=settings.redis_namespace)
        self.metrics = GuardMetrics(feed_age=self._feed_age_metric, failing_closed=lambda: float(self.failing_closed))
        self._background: set[asyncio.Task[None]] = set()
        self._inflight: dict[bytes, asyncio.Task[Answer]] = {}
        self.started = False

    # ---- lifecycle ----
    async def start(self) -> None:
        """Read discovery and the key set and make the first read of the feed; then follow it. An issuer
        that does not answer yet is not fatal: JWKS fetches are retried on the first tokens (rate-limited),
        and the guard refuses requests (503) until the feed has answered once."""
        try:
            await self.jwks.fetch()
            self.metrics.jwks_fetches.inc()
        except (httpx.HTTPError, DiscoveryError, ValueError) as exc:
            log.warning("issuer metadata or JWKS unavailable at start: %s", exc)
        if self.introspection is not None:
            endpoint = self.jwks.metadata.get("introspection_endpoint")
            self.introspection.endpoint = self.settings.reach(endpoint) if isinstance(endpoint, str) else None
        if self.feed is not None:
            try:
                await self.feed.read_once(0)
            except Exception as exc:
                log.warning("revocation feed unavailable at start: %s", type(exc).__name__)
            self.feed.start()
        self.started = True

    async def stop(self) -> None:
        if self.feed is not None:
            await self.feed.stop()
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self._http.aclose()
        self.started = False

    async def __aenter__(self) -> Guard:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def issuer_metadata(self) -> dict[str, Any]:
        """The issuer's metadata (RFC 8414) as read at start, or read now if the issuer did not answer
        then: an API publishes the issuer's endpoints from it (the example API's CapabilityStatement), so
        apps find the authorization server through the API they are pointed at."""
        if not self.jwks.metadata:
            try:
                await self.jwks.discover()
            except (httpx.HTTPError, DiscoveryError, ValueError) as exc:
                log.warning("issuer metadata unavailable: %s", type(exc).__name__)
                raise ServiceUnavailable(_RETRY_AFTER, "the token service cannot be reached") from None
        return dict(self.jwks.metadata)

    async def smart_configuration(self) -> dict[str, Any]:
        """The token service's own SMART configuration (``/.well-known/smart-configuration``), read now
        and kept for ``jwks_refresh_interval``: a FHIR API republishes it at its base URL, where SMART
        App Launch 2.2 clients look, so what they find is the service's document and never a copy that
        drifts from it. 503 while the service cannot be read."""
        now = self.clock.now()
        if self._smart_configuration is not None and now - self._smart_configuration[0] < \
                self.settings.jwks_refresh_interval:
            return dict(self._smart_configuration[1])
        try:
            resp = await self._http.get(self.settings.base_url + "/.well-known/smart-configuration")
            body = resp.json() if resp.status_code == 200 else None
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("smart configuration unavailable: %s", type(exc).__name__)
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("token_endpoint"), str):
            raise ServiceUnavailable(_RETRY_AFTER, "the token service's SMART configuration cannot be read")
        self._smart_configuration = (now, body)
        return dict(body)

    # ---- state ----
    @property
    def failing_closed(self) -> bool:
        return self.feed is not None and self.feed.stale()

    def _feed_age_metric(self) -> float:
        age = self.feed.age() if self.feed is not None else None
        return -1.0 if age is None else age

    def health(self) -> dict[str, Any]:
        """``status``: ``ok``, or ``failing_closed`` while the feed is stale (every request gets 503)."""
        feed: dict[str, Any] = {"followed": self.feed is not None}
        if self.feed is not None:
            age = self.feed.age()
            feed.update({"age_seconds": None if age is None else round(age, 3),
                         "staleness_seconds": self.feed.staleness, "loaded": self.feed.loaded,
                         "consecutive_failures": self.feed.failures,
                         "redis": ("subscribed" if self.feed.redis_subscribed else "down")
                         if self.settings.redis_url else "off"})
        return {"status": "failing_closed" if self.failing_closed else "ok", "revocation_feed": feed,
                "signing_keys": len(self.jwks.ring.keys)}

    # ---- revocations reaching the caches ----
    def _on_entry(self, kind: str, value: str) -> None:
        if kind == "kid":
            self.jwks.drop(value)
        elif kind == "changed" and value == "keys":
            task = asyncio.get_running_loop().create_task(self._refetch_keys())
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        if kind != "jti" and self.introspection is not None:
            # a client, key, user, tenant or session changed: answers cached before may be wrong now
            self.introspection.clear()

    async def _refetch_keys(self) -> None:
        try:
            await self.jwks.fetch()
            self.metrics.jwks_fetches.inc()
        except (httpx.HTTPError, DiscoveryError, ValueError) as exc:
            log.warning("JWKS reload failed: %s", exc)

    def _still_good(self, verified: _Verified) -> bool:
        """Not revoked: the full check only when the view has changed since the last one."""
        feed = self.feed
        if feed is None or verified.checked == feed.view.version:
            return True
        if self._revoked(verified.claims, verified.kid) is not None:
            return False
        verified.checked = feed.view.version
        return True

    def _revoked(self, claims: dict[str, Any], kid: str | None) -> str | None:
        if self.feed is None:
            return None
        view = self.feed.view
        if view.is_kid_revoked(kid):
            return "signing key revoked"
        return revoked_reason(view, claims, _TENANTS)

    # ---- authentication ----
    async def authenticate(self, authorization: str | None, api_key: str | None, *, browser: bool = False) -> Principal:
        """The principal for a request's ``Authorization`` and ``X-API-Key`` headers (``browser``: the request
        carries ``Origin`` or ``Sec-Fetch-Mode``); raises a :class:`ServiceError` to send as it is."""
        if self.feed is not None and self.feed.stale():
            self.metrics.decision("any", "failing_closed")
            raise ServiceUnavailable(_RETRY_AFTER, "the guard cannot confirm revocations (its feed is stale)")
        token: str | None = None
        if authorization is not None:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() == "bearer" and value.strip():
                token = value.strip()
        if token is not None and api_key is not None:
            raise InvalidRequest("send one credential: a Bearer token or an API key",
                                 headers={"WWW-Authenticate": 'Bearer error="invalid_request"'})
        if token is not None:
            if has_control(token):
                raise InvalidRequest("the Bearer token contains control characters",
                                     headers={"WWW-Authenticate": 'Bearer error="invalid_request"'})
            if token.count(".") == 2:
                return await self._jwt(token)
            return await self._introspected(token, "access_token")
        if api_key is not None:
            if has_control(api_key):
                raise InvalidRequest("the API key contains control characters")
            if browser and self.settings.refuse_browser_api_keys:
                self.metrics.decision("api_key", "browser")
                raise InvalidToken("API keys are for servers only: this request carries browser markers")
            if ":" not in api_key or len(api_key) > 256:  # not clientId:secret: no introspection for junk
                self.metrics.decision("api_key", "malformed")
                raise InvalidToken("the API key is not of the form clientId:secret")
            return await self._introspected(api_key, "api_key")
        raise MissingCredential()

    async def _jwt(self, token: str) -> Principal:
        digest = self._hash("jwt", token)
        now = self.clock.now()
        hit = self._tokens.get(digest)
        if hit is not None:
            if now < hit.exp + self.settings.leeway and self._still_good(hit):
                return hit.principal
            self._tokens.pop(digest, None)
            self.metrics.decision("jwt", "refused")
            raise InvalidToken("the access token is expired or revoked")
        verified = await self._verify_cold(token, now)
        if len(self._tokens) >= self.settings.token_cache_size:
            self._tokens.pop(next(iter(self._tokens)))
        self._tokens[digest] = verified
        return verified.principal

    async def _verify_cold(self, token: str, now: float) -> _Verified:
        try:
            kid = unverified_header(token).get("kid")
        except JwtVerificationError:
            kid = None
        if isinstance(kid, str) and kid not in self.jwks.ring.keys and not self._revoked({}, kid):
            fetched_before = self.jwks.fetches
            await self.jwks.refresh_for(kid)
            if self.jwks.fetches != fetched_before:
                self.metrics.jwks_fetches.inc()
        try:
            claims, key = verify_jwt(token, self.jwks.ring, now=now, leeway=self.settings.leeway,
                                     issuer=self.settings.issuer)
        except JwtVerificationError as exc:
            self.metrics.decision("jwt", "invalid")
            raise InvalidToken("the access token is invalid", debug=exc.reason) from None
        if not audience_accepted(claims, self.settings.audiences):
            self.metrics.decision("jwt", "audience")
            raise InvalidToken("the access token is not meant for this API", debug="audience")
        reason = self._revoked(claims, key.kid)
        if reason is not None:
            self.metrics.decision("jwt", "revoked")
            raise InvalidToken("the access token is expired or revoked", debug=reason)
        return _Verified(Principal.from_claims(claims, "jwt"), claims, key.kid, float(claims["exp"]),
                         self.feed.view.version if self.feed is not None else -1)

    async def _introspected(self, credential: str, hint: str) -> Principal:
        client = self.introspection
        kind = "api_key" if hint == "api_key" else "opaque"
        if client is None:
            raise InvalidToken("this API accepts JWT access tokens only", debug="no resource-server client")
        digest = self._hash(hint, credential)
        answer = client.cached(digest) or await self._single_flight(client, digest, credential, hint)
        principal = answer.principal
        if principal is None:
            self.metrics.decision(kind, "inactive")
            raise InvalidToken("the credential is invalid, expired or revoked")
        if answer.retry_after is not None:
            raise RateLimited(answer.retry_after)
        if kind == "opaque":
            claims = answer.claims
            if not audience_accepted(claims, self.settings.audiences):
                raise InvalidToken("the access token is not meant for this API", debug="audience")
            if self._revoked(claims, None) is not None:
                client.forget(digest)
                raise InvalidToken("the access token is expired or revoked")
        return principal

    async def _single_flight(self, client: IntrospectionClient, digest: bytes, credential: str, hint: str) -> Answer:
        """One introspection for any number of concurrent requests with the same credential (a cache miss
        under load, or after the feed cleared the cache, must not send one request per waiting caller)."""
        pending = self._inflight.get(digest)
        if pending is not None:
            return await asyncio.shield(pending)
        task = asyncio.get_running_loop().create_task(self._introspect(client, digest, credential, hint))
        self._inflight[digest] = task
        try:
            return await asyncio.shield(task)
        finally:
            if task.done():
                self._inflight.pop(digest, None)
            else:
                task.add_done_callback(lambda _: self._inflight.pop(digest, None))

    async def _introspect(self, client: IntrospectionClient, digest: bytes, credential: str, hint: str) -> Answer:
        try:
            if client.endpoint is None:  # the issuer did not answer at start: read its metadata now
                endpoint = (await self.jwks.discover()).get("introspection_endpoint")
                client.endpoint = self.settings.reach(endpoint) if isinstance(endpoint, str) else None
            answer, _ = await client.introspect(digest, credential, hint)
        except (httpx.HTTPError, DiscoveryError, ValueError) as exc:
            log.warning("introspection failed: %s", type(exc).__name__)
            raise ServiceUnavailable(_RETRY_AFTER, "the token service cannot be reached") from None
        self.metrics.introspections.inc()
        return answer

    # ---- authorization ----
    def authorize(self, principal: Principal, required: Iterable[str]) -> None:
        """:class:`InsufficientScope` (403) naming what is missing, unless the principal's scopes cover all."""
        missing = self.scopes.not_covered(principal.scopes, required)
        if missing:
            self.metrics.decision(principal.credential, "insufficient_scope")
            raise insufficient_scope(missing)


def headers_of(scope_headers: Iterable[tuple[bytes, bytes]]) -> tuple[str | None, str | None, bool]:
    """(Authorization, X-API-Key, browser markers present) from raw ASGI headers, in one pass."""
    authorization = api_key = None
    browser = False
    for name, value in scope_headers:
        if name == b"authorization":
            authorization = value.decode("latin-1")
        elif name == b"x-api-key":
            api_key = value.decode("latin-1")
        elif name in (b"origin", b"sec-fetch-mode"):
            browser = True
    return authorization, api_key, browser


def as_service_error(exc: Exception) -> ServiceError:
    return exc if isinstance(exc, ServiceError) else ServiceUnavailable(_RETRY_AFTER)


__all__ = ["Guard", "as_service_error", "headers_of"]
