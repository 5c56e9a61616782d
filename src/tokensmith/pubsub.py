"""Following one Redis pub/sub channel for the life of a process: the revocation fan-out
(:mod:`tokensmith.revocation.feed`), the rate limiter's failure hints (:mod:`tokensmith.ratelimit`) and the
guard's copy of the fan-out (:mod:`tokensmith.guard.feed`) each hold a :class:`Subscription`.

Every follower needs the same things, so they are here once: a lost connection is given back and the
channel subscribed again, after a delay that doubles from ``first_retry`` up to ``max_retry`` while Redis
stays away (a dead Redis is not hammered by every process at once, a short blip costs a fraction of a
second); a message the handler cannot use is logged and skipped instead of costing the subscription;
``subscribed`` is true from Redis's confirmation until the connection is lost (followers that fall back to
something slower while not subscribed ask it); a long outage is logged once, not once per attempt.
Messages published while a follower is not subscribed are not delivered to it: each follower says what
covers that gap (the database poll, the shared counter, the HTTP feed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from tokensmith.tasks import cancel_and_wait

if TYPE_CHECKING:
    from redis.asyncio import Redis  # only configured deployments import redis

log = logging.getLogger("tokensmith.pubsub")

#: ``handler(data)`` for each message on the channel (the payload as Redis sent it)
MessageHandler = Callable[[bytes], Awaitable[None] | None]


class Subscription:
    def __init__(self, redis: Redis, channel: str, handler: MessageHandler, *, name: str,
                 first_retry: float = 0.5, max_retry: float = 5.0) -> None:
        self._redis = redis
        self.channel = channel
        self._handler = handler
        self.name = name
        self._first_retry = first_retry
        self._max_retry = max_retry
        self._subscribed = False
        self._task: asyncio.Task[None] | None = None
        #: failed attempts since the last confirmed subscription (the backoff's exponent)
        self.failures = 0
        #: confirmed subscriptions since start (1 after the first, +1 per reconnection)
        self.subscriptions = 0

    @property
    def subscribed(self) -> bool:
        return self._subscribed

    def retry_delay(self, failures: int) -> float:
        """Seconds before the next attempt after ``failures`` failed ones in a row."""
        return float(min(self._first_retry * 2 ** max(0, failures - 1), self._max_retry))

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        self._subscribed = False

    async def _run(self) -> None:
        while True:
            await self._follow()
            self.failures += 1
            await asyncio.sleep(self.retry_delay(self.failures))

    async def _follow(self) -> None:
        """One subscription, until its connection is lost (or the task is cancelled)."""
        pubsub = self._redis.pubsub()
        try:
            await pubsub.subscribe(self.channel)
            async for message in pubsub.listen():
                kind = message.get("type")
                if kind == "subscribe":
                    self._confirmed()
                elif kind == "message":
                    await self._deliver(message["data"])
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if self.failures == 0 or self.failures % 50 == 0:
                log.warning("%s: Redis subscription lost (%s); subscribing again", self.name,
                            type(exc).__name__)
        finally:  # the connection is the subscription's own: give it back, also when stopped
            self._subscribed = False
            # through a typed name: PubSub.aclose has annotations in redis-py 8 and none in 5-7
            close: Callable[[], Awaitable[None]] = pubsub.aclose
            with contextlib.suppress(Exception):
                await close()

    def _confirmed(self) -> None:
        if self.failures:
            log.info("%s: subscribed again after %d failed attempts", self.name, self.failures)
        self._subscribed = True
        self.subscriptions += 1
        self.failures = 0

    async def _deliver(self, data: bytes) -> None:
        try:
            result = self._handler(data)
            if result is not None:
                await result
        except Exception as exc:  # one bad message must not cost the subscription
            log.warning("%s: message ignored (%s)", self.name, type(exc).__name__)
