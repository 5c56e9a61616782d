"""Opaque Bearer tokens and API keys at the guard: RFC 7662 introspection by the resource server's client,
with a short cache of the answers, active and inactive.

The cache is keyed by a keyed hash of the credential (BLAKE2b with a key drawn at random per process), so
the guard's memory holds no usable credential and a dump of it cannot be tested against guesses offline.
An active answer is reused for ``ttl`` seconds, never past the credential's ``exp``, and is dropped at once
when the revocation feed says something changed; the revocation view is checked on every hit as well.
An API key's per-minute rate limit is counted by the service on the introspections the guard makes (one per
key per ``ttl`` per guard process), not on every request the guard answers from its cache; an answer saying
the key is over its limit is never cached (the guard answers 429 with ``Retry-After``).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from tokensmith.clock import Clock
from tokensmith.guard.principal import CredentialKind, Principal


@dataclass(frozen=True, slots=True)
class Answer:
    """A cached introspection answer: the principal (None: inactive) and until when it may be reused."""

    principal: Principal | None
    until: float
    #: the answer's claims (checked against the revocation view and the audience on every hit)
    claims: dict[str, Any] = field(default_factory=dict)
    #: ``retry_after`` when the service said the key is over its rate limit
    retry_after: int | None = None


class KeyedHash:
    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def __call__(self, kind: str, credential: str) -> bytes:
        return hashlib.blake2b(f"{kind}\x00{credential}".encode(), key=self._key, digest_size=16).digest()


class IntrospectionClient:
    def __init__(self, http: httpx.AsyncClient, auth: httpx.Auth, clock: Clock, *, ttl: float, negative_ttl: float,
                 max_entries: int) -> None:
        self._http = http
        self._auth = auth
        self._clock = clock
        self._ttl = ttl
        self._negative_ttl = negative_ttl
        self._max = max_entries
        self.endpoint: str | None = None
        self.cache: dict[bytes, Answer] = {}
        self.requests = 0
        #: bumped by :meth:`clear`: an answer that was in flight across a clear is not cached
        self.generation = 0

    def cached(self, digest: bytes) -> Answer | None:
        answer = self.cache.get(digest)
        if answer is None:
            return None
        if self._clock.now() >= answer.until:
            self.cache.pop(digest, None)
            return None
        return answer

    def forget(self, digest: bytes) -> None:
        self.cache.pop(digest, None)

    def clear(self) -> None:
        self.cache.clear()
        self.generation += 1

    async def introspect(self, digest: bytes, credential: str, hint: str) -> tuple[Answer, Mapping[str, Any]]:
        """Ask the service; the answer is cached under ``digest`` (unless rate-limited)."""
        if self.endpoint is None:
            raise httpx.HTTPError("no introspection endpoint in the issuer's metadata")
        self.requests += 1
        generation = self.generation
        resp = await self._http.post(self.endpoint, data={"token": credential, "token_type_hint": hint},
                                     auth=self._auth)
        if resp.status_code != 200:
            raise httpx.HTTPError(f"introspection answered {resp.status_code}")
        body = resp.json()
        if not isinstance(body, dict):
            raise httpx.HTTPError("introspection answered no object")
        now = self._clock.now()
        if body.get("active") is not True:
            answer = Answer(None, now + self._negative_ttl)
            self._remember(digest, answer, generation)
            return answer, body
        kind: CredentialKind = "api_key" if hint == "api_key" else "opaque"
        principal = Principal.from_claims(body, kind)
        if body.get("rate_limited") is True:
            retry = body.get("retry_after")
            return Answer(principal, now, body, retry if isinstance(retry, int) and 0 < retry <= 3600 else 60), body
        until = now + self._ttl
        if principal.expires_at is not None:
            until = min(until, principal.expires_at)
        answer = Answer(principal, until, body)
        self._remember(digest, answer, generation)
        return answer, body

    def _remember(self, digest: bytes, answer: Answer, generation: int) -> None:
        if generation != self.generation:
            return  # the feed reported a change while this answer was on its way
        if len(self.cache) >= self._max:
            self.cache.pop(next(iter(self.cache)))  # the oldest entry
        self.cache[digest] = answer
