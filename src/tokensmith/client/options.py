"""What every token provider can be tuned with, in one typed value: the clock (injected in tests, so
that expiry needs no sleeping), how to wait on a 429, how far ahead of expiry to refresh, and the HTTP
transports of the token requests (a test or benchmark can count them)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

#: refresh a token this many seconds before it expires, or :data:`REFRESH_FRACTION` of its lifetime,
#: whichever is shorter (a 30-day token refreshes a minute early; a 5-minute one 30 s early)
REFRESH_AHEAD = 60.0
REFRESH_FRACTION = 0.1
#: the longest ``Retry-After`` the SDK waits out by itself (the spec's windows are one minute)
MAX_RATE_LIMIT_WAIT = 60.0
RATE_LIMIT_RETRIES = 1


@dataclass(frozen=True)
class Options:
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    refresh_ahead: float = REFRESH_AHEAD
    refresh_fraction: float = REFRESH_FRACTION
    max_rate_limit_wait: float = MAX_RATE_LIMIT_WAIT
    rate_limit_retries: int = RATE_LIMIT_RETRIES
    #: token requests retried at once after a network glitch (connection reset or refused)
    transport_retries: int = 1
    timeout: float = 10.0
    #: transports of the SDK's own token requests (default: httpx's)
    transport: httpx.BaseTransport | None = None
    async_transport: httpx.AsyncBaseTransport | None = None
    #: retry an API request once with a fresh token when the API answers 401
    retry_on_401: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.refresh_fraction < 1:
            raise ValueError("refresh_fraction must be in [0, 1)")
        if self.refresh_ahead < 0 or self.max_rate_limit_wait < 0 or self.timeout <= 0:
            raise ValueError("refresh_ahead and max_rate_limit_wait must be >= 0, timeout > 0")
        if not 0 <= self.rate_limit_retries <= 10 or not 0 <= self.transport_retries <= 10:
            raise ValueError("rate_limit_retries and transport_retries must be between 0 and 10")

    def margin(self, lifetime: float) -> float:
        """Seconds before expiry at which a token of ``lifetime`` seconds is refreshed."""
        return min(self.refresh_ahead, self.refresh_fraction * max(lifetime, 0.0))


DEFAULT_OPTIONS = Options()
