"""SPEC B: a still-valid token stops working when its client is disabled or its secret is rotated with
no grace; with a grace period the old secret (and its tokens) keep working until the grace ends.
Effects are immediate on the instance that made the change and reach other instances within a second."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.oauth.helpers import CC, basic, eventually, get_token, introspect
from tests.support import LiveServer
from tokensmith.clients import ClientDirectory, ClientRecord, rotate_client_secret, set_client_status
from tokensmith.clock import ManualClock

INACTIVE = {"active": False}
formats = pytest.mark.parametrize("fmt", ["jwt", "opaque"])


@formats
def test_disabling_a_client_cuts_off_its_tokens_and_refuses_new_ones(any_server: LiveServer, fmt: str) -> None:
    record, secret = any_server.create_client(scopes=["api.read"], access_token_format=fmt)
    watcher, watcher_secret = any_server.create_client()
    with any_server.client() as http:
        token = get_token(http, record.client_id, secret or "")["access_token"]
        any_server.call(lambda rt: set_client_status(rt, record.client_id, False))
        assert introspect(http, token, watcher.client_id, watcher_secret or "") == INACTIVE
        refused = http.post("/oauth/token", data=CC, headers=basic(record.client_id, secret or ""))
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"

        # Enabling again: new tokens work, the old ones stay dead.
        any_server.call(lambda rt: set_client_status(rt, record.client_id, True))
        fresh = get_token(http, record.client_id, secret or "")["access_token"]
        assert introspect(http, fresh, watcher.client_id, watcher_secret or "")["active"] is True
        assert introspect(http, token, watcher.client_id, watcher_secret or "") == INACTIVE


@formats
def test_disabling_reaches_a_second_instance_within_a_second(
        server_pair: tuple[LiveServer, LiveServer], fmt: str) -> None:
    first, second = server_pair
    record, secret = first.create_client(scopes=["api.read"], access_token_format=fmt)
    watcher, watcher_secret = first.create_client()
    with first.client() as http_a, second.client() as http_b:
        token = get_token(http_b, record.client_id, secret or "")["access_token"]  # also warms b's client cache
        assert introspect(http_b, token, watcher.client_id, watcher_secret or "")["active"] is True
        first.call(lambda rt: set_client_status(rt, record.client_id, False))
        assert introspect(http_a, token, watcher.client_id, watcher_secret or "") == INACTIVE
        eventually(lambda: introspect(http_b, token, watcher.client_id, watcher_secret or "") == INACTIVE)
        eventually(lambda: http_b.post("/oauth/token", data=CC,
                                       headers=basic(record.client_id, secret or "")).status_code == 401)


@formats
def test_rotation_without_grace_kills_old_secret_and_tokens_within_the_same_second(
        clocked_server: LiveServer, clock: ManualClock, fmt: str) -> None:
    live = clocked_server
    # Start at .100 of a second, so issuing, rotating and issuing again all happen within one second: only
    # the millisecond timestamp in the UUIDv7 jti tells the old token from the new one.
    clock.advance(int(clock.now()) + 1.1 - clock.now())
    second = int(clock.now())
    record, old_secret = live.create_client(scopes=["api.read"], access_token_format=fmt)
    with live.client() as http:
        old_token = get_token(http, record.client_id, old_secret or "")["access_token"]
        clock.advance(0.2)
        new_secret = live.call(lambda rt: rotate_client_secret(rt, record.client_id))
        clock.advance(0.2)
        refused = http.post("/oauth/token", data=CC, headers=basic(record.client_id, old_secret or ""))
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
        new_body = get_token(http, record.client_id, new_secret)
        new_token = new_body["access_token"]
        assert int(clock.now()) == second, "the test must stay within one second"
        assert introspect(http, old_token, record.client_id, new_secret) == INACTIVE
        assert introspect(http, new_token, record.client_id, new_secret)["active"] is True
        # The old secret cannot introspect either.
        resp = http.post("/oauth/introspect", data={"token": new_token}, headers=basic(record.client_id,
                                                                                       old_secret or ""))
        assert resp.status_code == 401


def test_rotation_without_grace_on_the_real_clock(any_server: LiveServer) -> None:
    record, old_secret = any_server.create_client(scopes=["api.read"])
    with any_server.client() as http:
        old_token = get_token(http, record.client_id, old_secret or "")["access_token"]
        new_secret = any_server.call(lambda rt: rotate_client_secret(rt, record.client_id))
        new_token = get_token(http, record.client_id, new_secret)["access_token"]
        assert introspect(http, old_token, record.client_id, new_secret) == INACTIVE
        assert introspect(http, new_token, record.client_id, new_secret)["active"] is True
        assert http.post("/oauth/token", data=CC, headers=basic(record.client_id, old_secret or "")).status_code == 401


@formats
def test_rotation_with_grace_keeps_the_old_secret_until_the_grace_ends(
        clocked_server: LiveServer, clock: ManualClock, fmt: str) -> None:
    live = clocked_server
    record, old_secret = live.create_client(scopes=["api.read"], access_token_format=fmt, access_token_ttl=86400)
    with live.client() as http:
        old_token = get_token(http, record.client_id, old_secret or "")["access_token"]
        clock.advance(1)
        new_secret = live.call(lambda rt: rotate_client_secret(rt, record.client_id, grace_seconds=3600))
        clock.advance(3599)
        # Within the grace: both secrets work, the old tokens stay active.
        during = get_token(http, record.client_id, old_secret or "")["access_token"]
        get_token(http, record.client_id, new_secret)
        assert introspect(http, old_token, record.client_id, new_secret)["active"] is True
        assert introspect(http, during, record.client_id, old_secret or "")["active"] is True
        clock.advance(2)
        # After the grace: the old secret is refused; tokens already issued live out their lifetime.
        refused = http.post("/oauth/token", data=CC, headers=basic(record.client_id, old_secret or ""))
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
        assert get_token(http, record.client_id, new_secret)["access_token"]
        assert introspect(http, old_token, record.client_id, new_secret)["active"] is True
        assert introspect(http, during, record.client_id, new_secret)["active"] is True


def test_rotation_reaches_a_second_instance_within_a_second(server_pair: tuple[LiveServer, LiveServer]) -> None:
    first, second = server_pair
    record, old_secret = first.create_client(scopes=["api.read"])
    with first.client() as http_a, second.client() as http_b:
        old_token = get_token(http_b, record.client_id, old_secret or "")["access_token"]
        new_secret = first.call(lambda rt: rotate_client_secret(rt, record.client_id))
        eventually(lambda: http_b.post("/oauth/token", data=CC,
                                       headers=basic(record.client_id, old_secret or "")).status_code == 401)
        new_token = get_token(http_b, record.client_id, new_secret)["access_token"]
        assert introspect(http_b, old_token, record.client_id, new_secret) == INACTIVE
        assert introspect(http_a, new_token, record.client_id, new_secret)["active"] is True


def test_a_lookup_racing_a_disable_does_not_cache_the_old_client(
        server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A client record read just before a change must not be cached over the change's invalidation:
    otherwise a disabled client keeps getting (valid) tokens for the whole cache lifetime."""
    record, secret = server.create_client()
    real_load = ClientDirectory.load
    loaded, release = threading.Event(), threading.Event()

    async def slow_load(self: ClientDirectory, client_id: str) -> ClientRecord | None:
        result = await real_load(self, client_id)
        if client_id == record.client_id and not loaded.is_set():
            loaded.set()
            while not release.is_set():
                await asyncio.sleep(0.01)
        return result

    server.runtime.clients.invalidate()
    monkeypatch.setattr(ClientDirectory, "load", slow_load)
    with server.client() as http, ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(http.post, "/oauth/token", data=CC, headers=basic(record.client_id, secret or ""))
        assert loaded.wait(5)
        server.call(lambda rt: set_client_status(rt, record.client_id, False))
        release.set()
        in_flight.result(5)  # started before the change: either answer is acceptable
        after = http.post("/oauth/token", data=CC, headers=basic(record.client_id, secret or ""))
    assert after.status_code == 401, after.text
