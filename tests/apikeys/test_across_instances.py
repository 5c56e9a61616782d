"""Two instances of the service behind one load balancer: the per-key rate limit holds across both when
they share Redis, and a revoked (or rotated, or deactivated) key fails on the other instance within a
second — with Redis, and without it (database feed only)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from tests.apikeys.helpers import admin_headers, api_key, create_key, exchange, wait_until
from tests.support import LiveServer, make_settings


@pytest.fixture
def redis_pair(postgres_url: str, redis_url: str) -> Iterator[tuple[LiveServer, LiveServer]]:
    """PostgreSQL + Redis, two instances: the production shape."""
    settings = make_settings(postgres_url, redis_url=redis_url)
    with LiveServer(settings) as first, LiveServer(make_settings(postgres_url, redis_url=redis_url)) as second:
        yield first, second


@pytest.fixture
def db_pair(database_url: str) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two instances on one database and no Redis (SQLite file, then PostgreSQL)."""
    with LiveServer(make_settings(database_url)) as first, LiveServer(make_settings(database_url)) as second:
        yield first, second


@pytest.mark.postgres
@pytest.mark.redis
def test_rate_limit_holds_across_two_instances_sharing_redis(redis_pair: tuple[LiveServer, LiveServer]) -> None:
    first, second = redis_pair
    with first.client() as a, second.client() as b:
        # A fresh key (its id is the limit's identity), so leftovers in Redis never leak between tests.
        key = api_key(create_key(a, admin_headers(first, a), name=f"rl-{uuid.uuid4().hex}", rateLimit=6))
        statuses = [exchange(client, key).status_code for client in (a, b, a, b, a, b)]
        assert statuses == [200] * 6
        for client in (a, b):
            resp = exchange(client, key)
            assert resp.status_code == 429
            assert resp.json()["error"] == "Rate limit exceeded" and resp.json()["retry_after"] >= 1
            assert resp.headers["retry-after"] == str(resp.json()["retry_after"])


@pytest.mark.postgres
@pytest.mark.redis
def test_a_large_limit_taken_in_batches_still_holds_across_instances(
    redis_pair: tuple[LiveServer, LiveServer],
) -> None:
    """Keys with large limits are counted in batches per process (one Redis round trip per batch): the
    two instances together still never serve more than the limit, and serve nearly all of it."""
    first, second = redis_pair
    limit = 400  # batches of 4
    with first.client() as a, second.client() as b:
        key = api_key(create_key(a, admin_headers(first, a), name=f"rl-{uuid.uuid4().hex}", rateLimit=limit))
        served = {"a": 0, "b": 0}
        refused = 0
        for i in range(limit + 40):
            name, client = ("a", a) if i % 3 else ("b", b)
            status = exchange(client, key).status_code
            if status == 200:
                served[name] += 1
            else:
                assert status == 429
                refused += 1
    total = served["a"] + served["b"]
    assert total <= limit
    assert total >= limit - 2 * 4  # at most one unspent batch per instance
    assert served["a"] > 0 and served["b"] > 0
    assert refused >= 40


def test_without_redis_each_instance_counts_for_itself(db_pair: tuple[LiveServer, LiveServer]) -> None:
    """The embedded default: in process, documented as per instance."""
    first, second = db_pair
    with first.client() as a, second.client() as b:
        key = api_key(create_key(a, admin_headers(first, a), rateLimit=2))
        assert [exchange(a, key).status_code for _ in range(3)] == [200, 200, 429]
        assert [exchange(b, key).status_code for _ in range(3)] == [200, 200, 429]


def _revocation_seen_within_a_second(first: LiveServer, second: LiveServer, action: str) -> float:
    with first.client() as a, second.client() as b:
        headers = admin_headers(first, a)
        key = create_key(a, headers)
        value = api_key(key)
        for _ in range(3):  # the second instance has the key cached
            assert exchange(b, value).status_code == 200
        started = time.monotonic()
        if action == "revoke":
            assert a.delete(f"/api-keys/{key['id']}", headers=headers).status_code == 204
        elif action == "deactivate":
            assert a.patch(f"/api-keys/{key['id']}", json={"active": False}, headers=headers).status_code == 200
        else:
            assert a.post(f"/api-keys/{key['id']}/rotate", headers=headers).status_code == 200
        wait_until(lambda: exchange(b, value).status_code == 401, timeout=3, interval=0.01)
        elapsed = time.monotonic() - started
        # And it stays refused (no stale copy comes back from a cache).
        time.sleep(0.5)
        assert [exchange(b, value).status_code for _ in range(3)] == [401] * 3
        assert exchange(a, value).status_code == 401
    assert elapsed < 1.0, f"{action}: the second instance still accepted the key after {elapsed:.2f}s"
    return elapsed


@pytest.mark.parametrize("action", ["revoke", "deactivate", "rotate"])
def test_a_change_reaches_the_other_instance_within_a_second(db_pair: tuple[LiveServer, LiveServer],
                                                             action: str) -> None:
    _revocation_seen_within_a_second(*db_pair, action)


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.parametrize("action", ["revoke", "rotate"])
def test_a_change_reaches_the_other_instance_within_a_second_with_redis(
        redis_pair: tuple[LiveServer, LiveServer], action: str) -> None:
    _revocation_seen_within_a_second(*redis_pair, action)


@pytest.mark.postgres
@pytest.mark.redis
def test_redis_shares_the_key_cache_and_never_serves_a_stale_copy(redis_pair: tuple[LiveServer, LiveServer]) -> None:
    first, second = redis_pair
    with first.client() as a, second.client() as b:
        headers = admin_headers(first, a)
        key = create_key(a, headers, rateLimit=1000)
        value = api_key(key)
        assert exchange(a, value).status_code == 200  # loaded from the database by the first instance...
        loads = second.runtime.apikeys.directory.loads
        assert exchange(b, value).status_code == 200  # ...and from Redis by the second one
        assert second.runtime.apikeys.directory.loads == loads
        # After a change, the Redis copy is unusable (its generation is old): the second instance, its memory
        # copy dropped through the feed, reads the database again and sees the new state.
        assert a.patch(f"/api-keys/{key['id']}", json={"allowedOrganisations": ["Elsewhere"]},
                       headers=headers).status_code == 200
        wait_until(lambda: exchange(b, value).status_code == 403, timeout=3)
