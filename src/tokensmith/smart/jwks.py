"""Client JWK Sets (RFC 7517) for ``private_key_jwt`` (RFC 7523, SMART Backend Services §"Registering a
client"): the shape a registered set must have (public signature keys only), and fetching a set from the
client's ``jwks_uri``.

A JWKS URL is fetched with a timeout and a size limit, without redirects, and never from a private,
loopback, link-local or otherwise internal address unless the operator allows it (development, or
``client_jwks_allow_internal``): the host is resolved once, every address checked, and the connection
made to the checked address with the original Host header and TLS server name, so a DNS answer that
changes between check and connect (rebinding) cannot steer the fetch. Sets are cached per URL; an unknown
``kid`` triggers a refetch at most once per ``refresh_interval`` (a client rotating its key is seen at
once, an attacker inventing kids cannot make us fetch in a loop); a failed refetch keeps the last good
set for ``client_jwks_stale_ttl``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import jwt

from tokensmith.clock import Clock

if TYPE_CHECKING:
    from httpx import AsyncBaseTransport

log = logging.getLogger("tokensmith.smart.jwks")

#: Algorithms a client assertion may be signed with (never HS*, never none).
ASSERTION_ALGORITHMS = ("RS384", "ES384", "RS256", "ES256")
#: Members that only a private (or symmetric) key has: a registered set holding one is refused.
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_EC_ALGS = {"P-256": "ES256", "P-384": "ES384"}
MAX_KEYS = 20
MIN_RSA_BITS = 2048


class JwksError(Exception):
    """A JWK Set that cannot be used; the message says why (safe to show to the app's administrator)."""


@dataclass(frozen=True, slots=True)
class ClientKey:
    """One parsed public key of a client, with the algorithms it may verify."""

    kid: str
    algorithms: tuple[str, ...]
    key: Any  # a cryptography public key object (PyJWT's PyJWK.key)


def _algorithms(jwk: dict[str, Any]) -> tuple[str, ...]:
    kty = jwk.get("kty")
    if kty == "EC":
        alg = _EC_ALGS.get(str(jwk.get("crv")))
        if alg is None:
            raise JwksError("EC keys must be on P-256 or P-384")
        candidates: tuple[str, ...] = (alg,)
    elif kty == "RSA":
        candidates = ("RS384", "RS256")
    else:
        raise JwksError("keys must be RSA or EC public keys (kty)")
    declared = jwk.get("alg")
    if declared is None:
        return candidates
    if declared not in candidates:
        raise JwksError(f"alg {str(declared)[:20]!r} is not one of {', '.join(candidates)} for this key")
    return (str(declared),)


def parse_key(jwk: Any) -> ClientKey:
    if not isinstance(jwk, dict):
        raise JwksError("every key must be a JSON object")
    private = PRIVATE_MEMBERS & set(jwk)
    if private:
        raise JwksError(f"keys must be public: remove the private member(s) {', '.join(sorted(private))}")
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > 200 or not kid.isprintable():
        raise JwksError("every key needs a kid (a printable string of at most 200 characters)")
    if jwk.get("use", "sig") != "sig":
        raise JwksError("keys must be signature keys (use sig)")
    algorithms = _algorithms(jwk)
    try:
        parsed = jwt.PyJWK(jwk, algorithms[0])
    except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
        raise JwksError(f"key {kid[:40]!r} cannot be read: {type(exc).__name__}") from None
    if jwk.get("kty") == "RSA" and parsed.key.key_size < MIN_RSA_BITS:
        raise JwksError(f"RSA keys must have at least {MIN_RSA_BITS} bits")
    return ClientKey(kid, algorithms, parsed.key)


def parse_jwks(jwks: Any) -> dict[str, ClientKey]:
    """The keys of a set by ``kid``; raises :class:`JwksError` for anything but public RSA/EC keys."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise JwksError('a JWK Set is an object {"keys": [...]}')
    keys = jwks["keys"]
    if not 1 <= len(keys) <= MAX_KEYS:
        raise JwksError(f"a JWK Set holds 1 to {MAX_KEYS} keys")
    parsed: dict[str, ClientKey] = {}
    for jwk in keys:
        key = parse_key(jwk)
        if key.kid in parsed:
            raise JwksError(f"kid {key.kid[:40]!r} appears twice")
        parsed[key.kid] = key
    return parsed


# ---- where a JWKS URL may point ----------------------------------------------------------------------------

def is_internal_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast
            or ip.is_unspecified or not ip.is_global)


def check_jwks_url(url: str, *, development: bool, allow_internal: bool | None = None) -> str:
    """The URL's host, or :class:`JwksError`: absolute, https (http too in development), no credentials,
    no fragment, and not a literal internal address outside development."""
    try:
        parts = urlsplit(url)
        _ = parts.hostname, parts.port  # both raise for a malformed authority
    except ValueError:
        raise JwksError("jwksUri must be an absolute https:// URL") from None
    if parts.scheme not in (("https", "http") if development else ("https",)) or not parts.hostname:
        raise JwksError("jwksUri must be an absolute https:// URL")
    if parts.fragment or parts.username or parts.password:
        raise JwksError("jwksUri must not carry a fragment or credentials")
    host = parts.hostname
    if not (development if allow_internal is None else allow_internal):
        try:
            internal = is_internal_address(host)
        except ValueError:
            internal = host == "localhost" or host.endswith((".localhost", ".internal", ".local"))
        if internal:
            raise JwksError("jwksUri must not point to a private, loopback or link-local address")
    return host


Resolver = Callable[[str, int], Awaitable[list[str]]]


async def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (a literal address is its own answer)."""
    try:
        ipaddress.ip_address(host)
        return [host]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise JwksError(f"jwksUri host does not resolve: {exc.strerror or type(exc).__name__}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def pinned_request(url: str, address: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    """(URL, headers, extensions) that reach ``address`` while naming the URL's host: the Host header
    keeps the original authority, and TLS sends it as SNI and checks the certificate against it. Used so
    that the address the check saw is the one connected to (no second resolution a DNS rebinding could
    answer differently)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    literal = f"[{address}]" if ":" in address else address
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    authority = parts.netloc.rsplit("@", 1)[-1]
    extensions: dict[str, Any] = {"sni_hostname": host} if parts.scheme == "https" else {}
    return (urlunsplit(parts._replace(netloc=netloc)), {"Host": authority, "Accept": "application/json"},
            extensions)


@dataclass
class _Cached:
    #: the last good set (None: no fetch has succeeded yet) and when it was fetched
    keys: dict[str, ClientKey] | None
    fetched_at: float
    #: the last fetch attempt, good or not: the next one waits ``refresh_interval`` after it
    attempted_at: float
    error: str | None = None


class JwksFetcher:
    """Fetches and caches clients' JWK Sets (one fetch per URL at a time).

    A set is used from the cache for ``cache_ttl``; a ``kid`` it lacks, or its expiry, triggers a refetch,
    but never more than one per ``refresh_interval`` and URL, whatever the outcome — so neither invented
    kids nor a failing URL make us fetch on every request. When a refetch fails (network error, non-200,
    not JSON, not a usable set), the last good set stays in use for ``stale_ttl`` beyond its cache
    lifetime, with a warning: a client's key server having a bad minute does not lock it out."""

    def __init__(self, clock: Clock, *, timeout: float, max_bytes: int, cache_ttl: float,
                 refresh_interval: float, development: bool, allow_internal: bool | None = None,
                 stale_ttl: float = 0.0, resolver: Resolver = resolve,
                 transport: AsyncBaseTransport | None = None) -> None:
        self._clock = clock
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._ttl = cache_ttl
        self._stale_ttl = stale_ttl
        self._refresh_interval = refresh_interval
        self._development = development
        self._allow_internal = development if allow_internal is None else allow_internal
        self._resolver = resolver
        self._transport = transport
        self._cache: dict[str, _Cached] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def forget(self, url: str | None = None) -> None:
        if url is None:
            self._cache.clear()
        else:
            self._cache.pop(url, None)

    async def key(self, url: str, kid: str) -> ClientKey | None:
        """The key ``kid`` of the set at ``url``: from the cache, else (re)fetched; :class:`JwksError`
        when no usable set is at hand."""
        cached = self._cache.get(url)
        now = self._clock.now()
        if cached is not None and cached.keys is not None and now - cached.fetched_at < self._ttl \
                and kid in cached.keys:
            return cached.keys[kid]
        if cached is None or now - cached.attempted_at >= self._refresh_interval:
            async with self._locks.setdefault(url, asyncio.Lock()):
                cached = self._cache.get(url)
                if cached is None or self._clock.now() - cached.attempted_at >= self._refresh_interval:
                    cached = self._cache[url] = await self._refetch(url, cached)
        return self._usable(cached).get(kid)

    def _usable(self, cached: _Cached) -> dict[str, ClientKey]:
        if cached.keys is not None and self._clock.now() - cached.fetched_at < self._ttl + self._stale_ttl:
            return cached.keys
        raise JwksError(cached.error or "the cached JWK Set has expired")

    async def _refetch(self, url: str, cached: _Cached | None) -> _Cached:
        now = self._clock.now()
        try:
            return _Cached(await self.fetch(url), now, now)
        except JwksError as exc:
            if cached is None or cached.keys is None or now - cached.fetched_at >= self._ttl + self._stale_ttl:
                return _Cached(None, 0.0, now, str(exc))
            log.warning("jwks refetch failed, using the last good set", extra={
                "url": url[:200], "reason": str(exc), "age_s": round(now - cached.fetched_at, 1)})
            return _Cached(cached.keys, cached.fetched_at, now, str(exc))

    async def fetch(self, url: str) -> dict[str, ClientKey]:
        """Check the URL, resolve its host once, refuse internal addresses (unless allowed), and GET the
        set from the address checked."""
        host = check_jwks_url(url, development=self._development, allow_internal=self._allow_internal)
        addresses = await self._resolver(host, urlsplit(url).port or (443 if url.startswith("https") else 80))
        if not addresses:
            raise JwksError("jwksUri host does not resolve")
        if not self._allow_internal and any(is_internal_address(a) for a in addresses):
            raise JwksError("jwksUri resolves to a private, loopback or link-local address")
        target, headers, extensions = pinned_request(url, addresses[0])
        import httpx  # here, not at the top: it costs a CLI command ~0.15 s to import, and few fetch JWKS

        async with httpx.AsyncClient(timeout=self._timeout, follow_redirects=False, transport=self._transport,
                                     trust_env=False) as http:
            try:
                request = http.build_request("GET", target, headers=headers, extensions=extensions)
                resp = await http.send(request, stream=True)
                try:
                    if resp.status_code != 200:
                        raise JwksError(f"jwksUri answered {resp.status_code}")
                    body = bytearray()
                    async for chunk in resp.aiter_bytes():
                        body += chunk
                        if len(body) > self._max_bytes:
                            raise JwksError(f"the JWK Set is larger than {self._max_bytes} bytes")
                finally:
                    await resp.aclose()
            except httpx.HTTPError as exc:
                raise JwksError(f"jwksUri cannot be fetched: {type(exc).__name__}") from None
        try:
            document = json.loads(body)
        except ValueError:
            raise JwksError("jwksUri did not return JSON") from None
        return parse_jwks(document)
