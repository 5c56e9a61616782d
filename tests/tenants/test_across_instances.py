"""Two instances on one PostgreSQL database: a tenant disabled on one stops working on the other within a
second — with Redis (pub/sub) and without it (the database feed only)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.apikeys.helpers import api_key, create_key, exchange
from tests.people.helpers import login
from tests.support import LiveServer, make_settings
from tests.tenants.helpers import new_tenant, operator, tenant_admin, wait_until


@pytest.fixture(params=["redis", "database-feed"])
def pair(request: pytest.FixtureRequest, postgres_url: str) -> Iterator[tuple[LiveServer, LiveServer]]:
    extra = {"redis_url": request.getfixturevalue("redis_url")} if request.param == "redis" else {}
    with LiveServer(make_settings(postgres_url, **extra)) as first, \
            LiveServer(make_settings(postgres_url, **extra)) as second:
        yield first, second


@pytest.mark.postgres
def test_a_disable_reaches_the_other_instance_within_a_second(pair: tuple[LiveServer, LiveServer]) -> None:
    first, second = pair
    with first.client() as a, second.client() as b:
        op = operator(first, a)
        tenant = new_tenant(a, op, "remote")
        admin = tenant_admin(b, "remote")
        key = api_key(create_key(b, admin))
        record, secret = second.create_client(tenant_id=tenant["id"], scopes=["api.read"])
        token = b.post("/oauth/token", data={"grant_type": "client_credentials"},
                       auth=(record.client_id, secret)).json()["access_token"]
        assert exchange(b, key).status_code == 200 and b.get("/users/me", headers=admin).status_code == 200

        assert a.post("/tenants/remote/disable", headers=op).status_code == 200
        wait_until(lambda: exchange(b, key).status_code == 401)
        wait_until(lambda: b.get("/users/me", headers=admin).status_code == 401)
        wait_until(lambda: b.post("/oauth/introspect", data={"token": token},
                                  auth=(record.client_id, secret)).status_code == 401)
        wait_until(lambda: b.post("/oauth/token", data={"grant_type": "client_credentials"},
                                  auth=(record.client_id, secret)).status_code == 401)
        assert login(b, "admin@remote.example").status_code == 403

        assert a.post("/tenants/remote/enable", headers=op).status_code == 200
        wait_until(lambda: exchange(b, key).status_code == 200)
        assert b.get("/users/me", headers=admin).status_code == 401  # issued before: stays dead
