"""Deployments that share one Redis server keep apart: every key and pub/sub channel tokensmith uses
carries the deployment's ``redis_namespace``."""

from __future__ import annotations

import uuid

import pytest
import redis
from pydantic import ValidationError

from tests.apikeys.helpers import admin_headers, api_key, create_key, exchange
from tests.oauth.helpers import CC, basic
from tests.support import LiveServer, make_settings


@pytest.mark.postgres
@pytest.mark.redis
def test_every_redis_key_and_channel_carries_the_namespace(postgres_url: str, redis_url: str) -> None:
    namespace = f"ns-{uuid.uuid4().hex[:12]}"
    with LiveServer(make_settings(postgres_url, redis_url=redis_url, redis_namespace=namespace)) as live, \
            live.client() as http:
        created = create_key(http, admin_headers(live, http), rateLimit=5)
        key, created_id = api_key(created), created["id"]
        assert exchange(http, key).status_code == 200  # API key cached in Redis, its use counted there
        record, _ = live.create_client()
        resp = http.post("/oauth/token", data=CC, headers=basic(record.client_id, "wrong"))
        assert resp.status_code == 401  # a failure counted and announced
        client = redis.Redis.from_url(redis_url)
        try:
            keys = {k.decode() for k in client.scan_iter(match=f"*{namespace}*")}
            channels = {c.decode() for c in client.pubsub_channels(f"{namespace}:*")}
            key_client_id = key.split(":")[0]
            assert not client.exists(f"tokensmith:apikey:{key_client_id}")
        finally:
            client.close()
    assert f"{namespace}:apikey:{key_client_id}" in keys
    assert f"{namespace}:counters:rl:apikey/{created_id}" in keys
    assert f"{namespace}:counters:rl:client-auth-fail/{record.client_id}" in keys
    assert channels == {f"{namespace}:revocations", f"{namespace}:ratelimit-failures"}


@pytest.mark.parametrize("value", ["", "has space", "a:b", "x" * 65])
def test_a_namespace_that_could_collide_or_confuse_is_refused(sqlite_url: str, value: str) -> None:
    with pytest.raises(ValidationError):
        make_settings(sqlite_url, redis_namespace=value)
