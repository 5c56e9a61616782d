"""A revoked session, API key, token (``jti``), disabled client and revoked signing key are refused by a
running guard within one second of the revocation, without the guard introspecting each request:

* one service on SQLite, the guard following its HTTP feed alone;
* two service instances sharing PostgreSQL and Redis, the revocation made on the first and the guard
  following the second — once with Redis (pub/sub) and once with the HTTP feed alone.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.guard.helpers import (
    ExampleApi,
    bearer,
    cc_client,
    guard_settings,
    make_api_key,
    make_clinician,
    resource_server_client,
    sign_in_token,
    token_of,
)
from tests.support import LiveServer, make_settings


@dataclass
class Deployment:
    revoking: LiveServer  # where the revocation is made
    api: ExampleApi  # guarded, following another instance when there are two


@pytest.fixture(params=["sqlite-http-feed", pytest.param("two-instances-redis", marks=pytest.mark.postgres),
                        pytest.param("two-instances-http-feed", marks=pytest.mark.postgres)])
def deployment(request: Any, tmp_path: Path) -> Iterator[Deployment]:
    with ExitStack() as stack:
        if request.param == "sqlite-http-feed":
            first = stack.enter_context(LiveServer(make_settings(f"sqlite+aiosqlite:///{tmp_path}/ts.db")))
            followed, redis = first, None
        else:
            postgres_url, redis = request.getfixturevalue("postgres_url"), request.getfixturevalue("redis_url")
            namespace = f"guardtest{uuid.uuid4().hex[:8]}"
            first = stack.enter_context(LiveServer(make_settings(postgres_url, redis_url=redis,
                                                                 redis_namespace=namespace)))
            followed = stack.enter_context(LiveServer(make_settings(postgres_url, redis_url=redis,
                                                                    redis_namespace=namespace), init=False))
            followed.tenant_id = first.tenant_id
            if request.param == "two-instances-http-feed":
                redis = None
        settings = guard_settings(followed, resource_server_client(first),
                                  **({"redis_url": redis, "redis_namespace": namespace} if redis else {}))
        api = stack.enter_context(ExampleApi(settings, tmp_path / "fhir.db"))
        if redis:
            _wait(lambda: api.guard.feed is not None and api.guard.feed.redis_subscribed, 5)
        yield Deployment(first, api)


def _wait(check: Callable[[], bool], timeout: float) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(0.005)
    return time.monotonic() - started


def _first_refusal_sent(http: httpx.Client, headers: dict[str, str], revoked_at: float, timeout: float) -> float:
    """Seconds after the revocation at which the first refused request was sent."""
    while True:
        sent = time.monotonic() - revoked_at
        if sent > timeout:
            raise AssertionError(f"still accepted {timeout} s after the revocation")
        if http.get("/fhir/Patient", headers=headers).status_code == 401:
            return sent
        time.sleep(0.005)


def _refused_within_a_second(d: Deployment, headers: dict[str, str], revoke: Callable[[], object]) -> None:
    with d.api.client() as http:
        assert http.get("/fhir/Patient", headers=headers).status_code == 200  # accepted, and now cached
        assert http.get("/fhir/Patient", headers=headers).status_code == 200
        introspections = d.api.guard.introspection.requests if d.api.guard.introspection else 0
        revoke()
        revoked_at = time.monotonic()
        # the first request refused was sent within a second of the revocation (when its answer arrives
        # depends on how busy the machine is, not on how fast the revocation travelled)
        assert _first_refusal_sent(http, headers, revoked_at, 1.0) < 1.0
        resp = http.get("/fhir/Patient", headers=headers)
        assert resp.status_code == 401 and resp.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    if headers.get("Authorization"):  # a JWT: refused from the feed, no introspection on the way
        assert d.api.guard.introspection is None or d.api.guard.introspection.requests == introspections


def test_a_revoked_session(deployment: Deployment) -> None:
    from tokensmith.people.sessions import revoke_session

    server = deployment.revoking
    make_clinician(server)
    token = sign_in_token(server)
    sid = _claims(token)["sid"]
    _refused_within_a_second(deployment, bearer(token),
                             lambda: server.call(lambda rt: revoke_session(rt, sid, reason="test")))


def test_a_revoked_api_key(deployment: Deployment) -> None:
    from tokensmith.apikeys.management import revoke_api_key

    server = deployment.revoking
    record, key = make_api_key(server, ["Patient.read"])
    _refused_within_a_second(deployment, {"X-API-Key": key},
                             lambda: server.call(lambda rt: revoke_api_key(rt, server.tenant_id, record.id)))


def test_a_revoked_token(deployment: Deployment) -> None:
    server = deployment.revoking
    record, secret = cc_client(server, ["Patient.read"])
    token = token_of(server, record.client_id, secret)

    def revoke() -> None:
        with httpx.Client(base_url=server.url) as http:
            assert http.post("/oauth/revoke", data={"token": token}, auth=(record.client_id, secret)).status_code == 200

    _refused_within_a_second(deployment, bearer(token), revoke)


def test_a_disabled_client(deployment: Deployment) -> None:
    from tokensmith.clients import set_client_status

    server = deployment.revoking
    record, secret = cc_client(server, ["Patient.read"])
    token = token_of(server, record.client_id, secret)
    _refused_within_a_second(deployment, bearer(token),
                             lambda: server.call(lambda rt: set_client_status(rt, record.client_id, False)))


def test_a_revoked_signing_key(deployment: Deployment) -> None:
    from tokensmith.signing_keys import revoke_key

    server = deployment.revoking
    record, secret = cc_client(server, ["Patient.read"])
    token = token_of(server, record.client_id, secret)
    kid = _header(token)["kid"]
    _refused_within_a_second(deployment, bearer(token), lambda: server.call(lambda rt: revoke_key(rt, kid)))
    # the service signs with the next key at once, and the guard takes it (one JWKS fetch)
    fresh = token_of(server, record.client_id, secret)
    assert _header(fresh)["kid"] != kid
    with deployment.api.client() as http:
        _wait(lambda: http.get("/fhir/Patient", headers=bearer(fresh)).status_code == 200, 2.0)


def _segment(token: str, index: int) -> dict[str, Any]:
    import base64
    import json

    part = token.split(".")[index]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def _claims(token: str) -> dict[str, Any]:
    return _segment(token, 1)


def _header(token: str) -> dict[str, Any]:
    return _segment(token, 0)
