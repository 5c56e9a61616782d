"""The cached access token and the single-flight cache around it.

One :class:`TokenCache` per credential. Any number of callers ask it for a token at once — threads
through :meth:`TokenCache.get`, tasks through :meth:`TokenCache.aget` — and while a token is being fetched
they wait for that one request instead of sending their own. A token counts as stale from its
``refresh_at`` on (ahead of expiry, :meth:`Options.margin`), and a token an API just refused with 401 is
never handed out again: callers pass it as ``avoid`` and get the next one (fetched once for all of them).
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tokensmith.client.options import Options
from tokensmith.client.sensitive import Secret


@dataclass(frozen=True)
class AccessToken:
    """An access token and when to stop using it (clock seconds). ``extra`` keeps the non-secret fields
    of the token response (``scope``, ``user_id``, ``session_id``, …)."""

    value: Secret
    expires_at: float | None
    refresh_at: float | None
    extra: dict[str, object] = field(default_factory=dict)

    @classmethod
    def issued(cls, value: str, *, now: float, lifetime: float | None, options: Options,
               extra: dict[str, object] | None = None) -> AccessToken:
        """A token issued at ``now`` that lives ``lifetime`` seconds (None: unknown, kept until a 401)."""
        if lifetime is None:
            return cls(Secret(value), None, None, dict(extra or {}))
        lifetime = max(lifetime, 0.0)
        expires = now + lifetime
        return cls(Secret(value), expires, expires - options.margin(lifetime), dict(extra or {}))

    def usable(self, now: float) -> bool:
        return self.refresh_at is None or now < self.refresh_at

    def __repr__(self) -> str:
        return f"AccessToken(value=***, expires_at={self.expires_at!r}, refresh_at={self.refresh_at!r})"


class TokenCache:
    """The current token of one credential, fetched by one caller at a time."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._token: AccessToken | None = None
        self._lock = threading.Lock()
        self._async_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary())
        self.fetches = 0  # token requests made through this cache (for the curious and the tests)

    @property
    def current(self) -> AccessToken | None:
        return self._token

    def clear(self) -> None:
        self._token = None

    def _fresh(self, avoid: AccessToken | None) -> AccessToken | None:
        token = self._token
        if token is None or token is avoid or not token.usable(self._clock()):
            return None
        if avoid is not None and token.value == avoid.value:
            return None
        return token

    def get(self, fetch: Callable[[], AccessToken], avoid: AccessToken | None = None) -> AccessToken:
        token = self._fresh(avoid)
        if token is not None:
            return token
        with self._lock:
            token = self._fresh(avoid)  # another thread may have fetched it while this one waited
            if token is None:
                self.fetches += 1
                token = self._token = fetch()
            return token

    async def aget(self, fetch: Callable[[], Awaitable[AccessToken]],
                   avoid: AccessToken | None = None) -> AccessToken:
        token = self._fresh(avoid)
        if token is not None:
            return token
        async with self._async_lock():
            token = self._fresh(avoid)
            if token is None:
                self.fetches += 1
                token = self._token = await fetch()
            return token

    def _async_lock(self) -> asyncio.Lock:
        """One lock per event loop (an asyncio lock belongs to the loop it first waits on)."""
        loop = asyncio.get_running_loop()
        lock = self._async_locks.get(loop)
        if lock is None:
            lock = self._async_locks[loop] = asyncio.Lock()
        return lock
