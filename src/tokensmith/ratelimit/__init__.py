"""The one counting core of every rate limit and lockout (docs/architecture.md, "Rate limits and
lockouts"): expiring counters in memory or Redis (:mod:`~tokensmith.ratelimit.counters`) and the fixed
windows with their failure hints on top (:mod:`~tokensmith.ratelimit.limiter`). The policies — how many, per
what — stay with their domains: per-key API limits (:mod:`tokensmith.apikeys.ratelimit`), the sign-in
lockout (:mod:`tokensmith.people.throttle`), client-authentication failures
(:mod:`tokensmith.oauth.client_auth`), guessed user tokens (:mod:`tokensmith.people.user_tokens`)."""

from tokensmith.ratelimit.counters import Counters, MemoryCounters, RedisCounters
from tokensmith.ratelimit.limiter import RateLimiter

__all__ = ["Counters", "MemoryCounters", "RateLimiter", "RedisCounters"]
