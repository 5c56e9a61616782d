"""The one "follow a Redis channel forever" component (``tokensmith.pubsub.Subscription``, behind the
revocation fan-out, the rate limiter's failure hints and the guard's feed): against the real Redis through a
test-owned TCP proxy it delivers, notices the outage (``subscribed`` false), retries with a growing delay,
subscribes again by itself once Redis is back and delivers again; one warning per outage, not one per
attempt; a message its handler cannot use costs nothing but that message."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis

from tests.support import TcpProxy
from tokensmith.ids import random_token
from tokensmith.pubsub import Subscription

pytestmark = pytest.mark.redis


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


@dataclass
class Channel:
    proxy: TcpProxy
    through_proxy: Redis
    direct: Redis
    name: str

    async def publish(self, data: bytes) -> None:
        await self.direct.publish(self.name, data)


@pytest.fixture
async def channel(redis_proxy: tuple[TcpProxy, str], redis_url: str) -> AsyncIterator[Channel]:
    proxy, url = redis_proxy
    through_proxy = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    direct = Redis.from_url(redis_url)
    try:
        yield Channel(proxy, through_proxy, direct, f"test-{random_token(6)}")
    finally:
        await through_proxy.aclose()
        await direct.aclose()


async def test_a_subscription_comes_back_after_an_outage_and_delivers_again(
        channel: Channel, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tokensmith.pubsub")
    got: list[bytes] = []
    sub = Subscription(channel.through_proxy, channel.name, got.append, name="test-follower",
                       first_retry=0.05, max_retry=0.2)
    sub.start()
    try:
        await until(lambda: sub.subscribed)
        await channel.publish(b"one")
        await until(lambda: got == [b"one"])

        channel.proxy.cut()
        await until(lambda: not sub.subscribed)
        await channel.publish(b"lost")  # nobody is subscribed through the proxy: not delivered
        await until(lambda: sub.failures >= 3)  # retrying meanwhile, each attempt refused
        assert not sub.subscribed and sub.subscriptions == 1

        channel.proxy.restore()
        await until(lambda: sub.subscribed)
        assert sub.failures == 0 and sub.subscriptions >= 2
        await channel.publish(b"two")
        await until(lambda: b"two" in got)
        assert got == [b"one", b"two"]
    finally:
        await sub.stop()
    assert not sub.subscribed
    assert caplog.text.count("test-follower: Redis subscription lost") == 1
    assert "test-follower: subscribed again after" in caplog.text


async def test_a_message_the_handler_cannot_use_costs_only_that_message(
        channel: Channel, caplog: pytest.LogCaptureFixture) -> None:
    got: list[bytes] = []

    async def handler(data: bytes) -> None:
        if data == b"bad":
            raise ValueError("not a message this follower understands")
        got.append(data)

    sub = Subscription(channel.through_proxy, channel.name, handler, name="picky-follower")
    sub.start()
    try:
        await until(lambda: sub.subscribed)
        for data in (b"first", b"bad", b"after"):
            await channel.publish(data)
        await until(lambda: got == [b"first", b"after"])
        assert sub.subscribed and sub.subscriptions == 1 and sub.failures == 0
    finally:
        await sub.stop()
    assert "picky-follower: message ignored (ValueError)" in caplog.text


async def test_redis_down_from_the_start_is_retried_until_it_answers(channel: Channel) -> None:
    channel.proxy.cut()
    got: list[bytes] = []
    sub = Subscription(channel.through_proxy, channel.name, got.append, name="early-follower",
                       first_retry=0.05, max_retry=0.1)
    sub.start()
    try:
        await until(lambda: sub.failures >= 2)
        assert not sub.subscribed and sub.subscriptions == 0
        channel.proxy.restore()
        await until(lambda: sub.subscribed)
        await channel.publish(b"hello")
        await until(lambda: got == [b"hello"])
    finally:
        await sub.stop()


def test_the_retry_delay_doubles_up_to_its_bound() -> None:
    sub = Subscription(Redis(), "unused", lambda data: None, name="delays", first_retry=0.5, max_retry=5.0)
    assert [sub.retry_delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
