"""The issuer's signing keys as the guard sees them: found through discovery (``/.well-known/
openid-configuration`` → ``jwks_uri``; never a URL named by a token), parsed into the core's
:class:`tokensmith.jose.keyring.KeyRing` so that verification is the core's own
(:func:`tokensmith.jose.tokens.verify_jwt`), with each key's algorithm pinned by the JWK's ``alg``.

Tokens naming unknown ``kid`` s cause at most one fetch per ``jwks_refresh_interval``: a stream of
tokens with made-up kids must not turn the guard into a load generator against the issuer.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
from jwt import PyJWK, PyJWKError

from tokensmith.clock import Clock
from tokensmith.guard.settings import GuardSettings
from tokensmith.jose.keyring import KeyRing, PublicKey, SigningKeyMaterial

log = logging.getLogger("tokensmith.guard.jwks")

#: asymmetric signature algorithms a key may pin; ``none`` and HMAC never verify anything here
ASYMMETRIC_ALGS = frozenset({"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                             "EdDSA"})


class DiscoveryError(Exception):
    """The issuer's metadata or key set could not be read (a reason for logs)."""


def parse_jwks(body: Any) -> dict[str, SigningKeyMaterial]:
    """The usable signature keys of a JWKS document; keys without ``kid``/``alg``, with a symmetric or
    unknown algorithm, or for encryption are left out."""
    keys: dict[str, SigningKeyMaterial] = {}
    entries = body.get("keys") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        raise DiscoveryError("the JWKS has no keys list")
    for jwk in entries:
        if not isinstance(jwk, dict):
            continue
        kid, alg = jwk.get("kid"), jwk.get("alg")
        if not isinstance(kid, str) or alg not in ASYMMETRIC_ALGS or jwk.get("use", "sig") != "sig":
            continue
        try:
            public: PublicKey = PyJWK(jwk, algorithm=alg).key
        except (PyJWKError, ValueError, TypeError):
            log.warning("JWKS key %s could not be parsed; ignored", kid[:60])
            continue
        keys[kid] = SigningKeyMaterial(kid=kid, alg=str(alg), status="next", public=public, public_jwk=dict(jwk))
    return keys


class JwksCache:
    def __init__(self, http: httpx.AsyncClient, settings: GuardSettings, clock: Clock, *,
                 refresh_interval: float) -> None:
        self._http = http
        self._settings = settings
        self._issuer = settings.issuer
        self._clock = clock
        self._refresh_interval = refresh_interval
        self.ring = KeyRing()
        self.metadata: dict[str, Any] = {}
        self.fetches = 0
        self._last_refresh: float | None = None  # the last fetch caused by an unknown kid
        self._lock = asyncio.Lock()

    async def discover(self) -> dict[str, Any]:
        """RFC 8414 §3: the issuer's metadata; its ``issuer`` must be ours (§3.3)."""
        resp = await self._http.get(self._settings.base_url + "/.well-known/openid-configuration")
        if resp.status_code != 200:
            raise DiscoveryError(f"discovery answered {resp.status_code}")
        body = resp.json()
        if not isinstance(body, dict) or body.get("issuer") != self._issuer:
            raise DiscoveryError("discovery names another issuer")
        if not isinstance(body.get("jwks_uri"), str):
            raise DiscoveryError("discovery has no jwks_uri")
        self.metadata = body
        return body

    async def fetch(self) -> None:
        """Read the key set now (discovery first if it has not been read)."""
        async with self._lock:
            await self._fetch_locked()

    async def _fetch_locked(self) -> None:
        if not self.metadata:
            await self.discover()
        resp = await self._http.get(self._settings.reach(self.metadata["jwks_uri"]))
        if resp.status_code != 200:
            raise DiscoveryError(f"the JWKS answered {resp.status_code}")
        self.ring = KeyRing(keys=parse_jwks(resp.json()))
        self.fetches += 1

    async def refresh_for(self, kid: str) -> bool:
        """Called for a token naming ``kid`` that is not in the ring: fetch the key set unless one was
        fetched within the refresh interval. True when ``kid`` is known afterwards."""
        async with self._lock:  # concurrent requests with the same new kid: one fetch
            if kid in self.ring.keys:
                return True
            last = self._last_refresh
            if last is not None and self._clock.now() - last < self._refresh_interval:
                return False
            self._last_refresh = self._clock.now()
            try:
                await self._fetch_locked()
            except (httpx.HTTPError, DiscoveryError, ValueError) as exc:
                log.warning("JWKS refresh failed: %s", exc)
                return False
            return kid in self.ring.keys

    def drop(self, kid: str) -> None:
        """A revoked key leaves the ring at once (the feed said so)."""
        if kid in self.ring.keys:
            self.ring = KeyRing(keys={k: v for k, v in self.ring.keys.items() if k != kid})
