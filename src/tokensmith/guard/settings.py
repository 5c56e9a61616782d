"""What a guard is configured with. A resource server runs its own process, not the service's, so these are
plain arguments (or ``TOKENSMITH_GUARD_*`` variables read by :meth:`GuardSettings.from_env`), not the
service's :class:`tokensmith.config.Settings`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

#: the revocation feed path on the service (not in discovery: it is tokensmith's own)
FEED_PATH = "/revocations/feed"


@dataclass(frozen=True)
class GuardSettings:
    """``issuer``: the service's URL (discovery is read from it). ``audiences``: the identifiers this API
    accepts in ``aud`` (default: the issuer, the audience of every token the service issues for the platform).
    ``client_id``/``client_secret``: the resource server's client, for introspection (opaque tokens, API keys)
    and the revocation feed (it needs the ``Revocation.read`` scope). Without them the guard verifies JWTs
    only and sees no revocation (its health says so)."""

    issuer: str
    audiences: tuple[str, ...] = ()
    #: where the guard reaches the service when that is not the issuer URL (an internal address): discovery
    #: is read there, and endpoint URLs under the issuer are reached under it instead
    service_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    redis_url: str | None = field(default=None, repr=False)  # may hold a password
    redis_namespace: str = "tokensmith"
    #: clock skew tolerated on ``exp``, ``nbf`` and ``iat`` (s)
    leeway: float = 5.0
    #: the fewest seconds between two JWKS fetches caused by unknown ``kid`` s
    jwks_refresh_interval: float = 30.0
    #: verified JWTs remembered (each a dictionary entry; the oldest go first)
    token_cache_size: int = 10_000
    #: how long an active / inactive introspection answer is reused (s); never past the token's ``exp``
    introspection_ttl: float = 10.0
    negative_ttl: float = 5.0
    introspection_cache_size: int = 10_000
    #: how long one long poll of the feed waits on the service (s)
    feed_wait: float = 20.0
    #: with no answer from the feed for this long (s), refuse every request (503) until it answers again
    staleness: float = 60.0
    #: refuse API keys on requests with browser markers (``Origin``, ``Sec-Fetch-Mode``), as the service does
    refuse_browser_api_keys: bool = True
    http_timeout: float = 5.0

    def __post_init__(self) -> None:
        if not self.issuer.startswith(("https://", "http://")):
            raise ValueError("issuer must be an http(s) URL")
        object.__setattr__(self, "issuer", self.issuer.rstrip("/"))
        if self.service_url is not None:
            if not self.service_url.startswith(("https://", "http://")):
                raise ValueError("service_url must be an http(s) URL")
            object.__setattr__(self, "service_url", self.service_url.rstrip("/"))
        if not self.audiences:
            object.__setattr__(self, "audiences", (self.issuer,))
        if (self.client_id is None) != (self.client_secret is None):
            raise ValueError("client_id and client_secret go together")
        for name in ("leeway", "jwks_refresh_interval", "introspection_ttl", "negative_ttl", "http_timeout"):
            value = getattr(self, name)
            if not 0 <= value <= 3600:
                raise ValueError(f"{name} must be between 0 and 3600 seconds")
        if not 1 <= self.feed_wait <= 30:
            raise ValueError("feed_wait must be between 1 and 30 seconds (the feed's longest wait)")
        if not self.feed_wait < self.staleness <= 86_400:
            raise ValueError("staleness must be longer than feed_wait (and at most a day)")
        for name in ("token_cache_size", "introspection_cache_size"):
            if not 1 <= getattr(self, name) <= 10_000_000:
                raise ValueError(f"{name} must be between 1 and 10000000")

    @property
    def follows_feed(self) -> bool:
        return self.client_id is not None

    @property
    def base_url(self) -> str:
        return self.service_url or self.issuer

    def reach(self, url: str) -> str:
        """``url`` (an endpoint the issuer's metadata names) as this guard reaches it."""
        if self.service_url is not None and url.startswith(self.issuer + "/"):
            return self.service_url + url[len(self.issuer):]
        return url

    @property
    def feed_url(self) -> str:
        return self.base_url + FEED_PATH

    @classmethod
    def from_env(cls, **overrides: object) -> GuardSettings:
        """``TOKENSMITH_ISSUER``, ``TOKENSMITH_GUARD_AUDIENCE`` (space-separated), ``TOKENSMITH_GUARD_CLIENT_ID``,
        ``TOKENSMITH_GUARD_CLIENT_SECRET``, ``TOKENSMITH_GUARD_SERVICE_URL``, ``TOKENSMITH_REDIS_URL``,
        ``TOKENSMITH_REDIS_NAMESPACE``."""
        env = os.environ
        values: dict[str, object] = {
            "issuer": env.get("TOKENSMITH_ISSUER", ""),
            "service_url": env.get("TOKENSMITH_GUARD_SERVICE_URL") or None,
            "audiences": tuple(env.get("TOKENSMITH_GUARD_AUDIENCE", "").split()),
            "client_id": env.get("TOKENSMITH_GUARD_CLIENT_ID") or None,
            "client_secret": env.get("TOKENSMITH_GUARD_CLIENT_SECRET") or None,
            "redis_url": env.get("TOKENSMITH_REDIS_URL") or None,
            "redis_namespace": env.get("TOKENSMITH_REDIS_NAMESPACE", "tokensmith"),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
