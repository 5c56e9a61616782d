"""Signing keys (SPEC G, RFC 7517): the JWKS publishes the active and the next key; rotation promotes the
pre-published next key and keeps the old key published until every token it signed has expired;
revoking a key kills its tokens at once, on every instance within a second; private keys are encrypted
at rest."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from tests.oauth.helpers import eventually, get_token, introspect, jwt_parts
from tests.support import LiveServer, make_settings
from tokensmith.clock import ManualClock
from tokensmith.revocation import RevocationFeed
from tokensmith.signing_keys import lifecycle as signing_keys
from tokensmith.signing_keys import list_keys, revoke_key, rotate_keys
from tokensmith.storage.models import SigningKey

INACTIVE = {"active": False}


def jwks(live: LiveServer) -> list[dict[str, Any]]:
    with live.client() as http:
        resp = http.get("/.well-known/jwks.json")
    assert resp.status_code == 200
    keys: list[dict[str, Any]] = resp.json()["keys"]
    return keys


def kids(live: LiveServer) -> list[str]:
    return [k["kid"] for k in jwks(live)]


def key_status(live: LiveServer) -> dict[str, str]:
    return {k["kid"]: k["status"] for k in live.call(list_keys)}


def test_jwks_publishes_the_active_and_the_next_key(any_server: LiveServer) -> None:
    published = jwks(any_server)
    status = key_status(any_server)
    assert sorted(status.values()) == ["active", "next"]
    assert {k["kid"] for k in published} == set(status)
    for key in published:
        assert key["alg"] == "ES256" and key["use"] == "sig" and key["kty"] == "EC" and key["crv"] == "P-256"
        assert "d" not in key
    active = next(kid for kid, s in status.items() if s == "active")
    assert published[0]["kid"] == active  # the signing key first
    record, secret = any_server.create_client()
    with any_server.client() as http:
        token = get_token(http, record.client_id, secret or "")["access_token"]
    assert jwt_parts(token)[0]["kid"] == active


def test_rotation_promotes_the_next_key_and_keeps_the_old_one_published(any_server: LiveServer) -> None:
    record, secret = any_server.create_client(scopes=["api.read"], access_token_ttl=7200)
    before = key_status(any_server)
    old_active = next(kid for kid, s in before.items() if s == "active")
    old_next = next(kid for kid, s in before.items() if s == "next")
    with any_server.client() as http:
        old_token = get_token(http, record.client_id, secret or "")["access_token"]
        result = any_server.call(lambda rt: rotate_keys(rt))
        assert result["active"] == old_next and result["retired"] == old_active
        new_token = get_token(http, record.client_id, secret or "")["access_token"]
        assert jwt_parts(new_token)[0]["kid"] == old_next
        assert jwt_parts(old_token)[0]["kid"] == old_active
        # Both tokens verify, here and for a relying party holding the published JWKS.
        assert introspect(http, old_token, record.client_id, secret or "")["active"] is True
        assert introspect(http, new_token, record.client_id, secret or "")["active"] is True
        key_set = KeySet.import_key_set({"keys": jwks(any_server)})
        for token in (old_token, new_token):
            jose_jwt.decode(token, key_set, algorithms=["ES256"])
    after = key_status(any_server)
    assert after[old_active] == "retired" and after[old_next] == "active" and after[result["next"]] == "next"
    assert set(kids(any_server)) == {old_active, old_next, result["next"]}
    assert kids(any_server)[0] == old_next


def test_retired_key_leaves_the_jwks_after_publish_until(clocked_server: LiveServer, clock: ManualClock) -> None:
    live = clocked_server
    record, secret = live.create_client(scopes=["api.read"], access_token_ttl=2592000)
    old_active = next(kid for kid, s in key_status(live).items() if s == "active")
    with live.client() as http:
        old_token = get_token(http, record.client_id, secret or "")["access_token"]
        live.call(lambda rt: rotate_keys(rt))
        retired = next(k for k in live.call(list_keys) if k["kid"] == old_active)
        assert retired["status"] == "retired"
        # Published for as long as the longest token lifetime (30 days here) plus the leeway.
        clock.advance(2592000 - 1)
        assert old_active in kids(live)
        assert introspect(http, old_token, record.client_id, secret or "")["active"] is True
        clock.advance(live.settings.jwt_leeway)
        assert old_active in kids(live)  # relying parties may still accept it with their leeway
        clock.advance(2)
        assert introspect(http, old_token, record.client_id, secret or "") == INACTIVE
        assert old_active not in kids(live)
        assert len(kids(live)) == 2
        # The current key still signs and verifies.
        fresh = get_token(http, record.client_id, secret or "")["access_token"]
        assert introspect(http, fresh, record.client_id, secret or "")["active"] is True


def test_revoked_key_kills_its_tokens_at_once(any_server: LiveServer) -> None:
    record, secret = any_server.create_client(scopes=["api.read"])
    active = next(kid for kid, s in key_status(any_server).items() if s == "active")
    with any_server.client() as http:
        token = get_token(http, record.client_id, secret or "")["access_token"]
        opaque_client, opaque_secret = any_server.create_client(access_token_format="opaque")
        opaque = get_token(http, opaque_client.client_id, opaque_secret or "")["access_token"]
        # introspected once while the key is good: its verified signature is remembered ...
        assert introspect(http, token, record.client_id, secret or "")["active"] is True
        any_server.call(lambda rt: revoke_key(rt, active))
        # ... and still the token is inactive the moment its key is revoked
        assert introspect(http, token, record.client_id, secret or "") == INACTIVE
        assert active not in kids(any_server)
        # Opaque tokens do not depend on signing keys.
        assert introspect(http, opaque, record.client_id, secret or "")["active"] is True
        # A new key signs at once, and its tokens are active.
        fresh = get_token(http, record.client_id, secret or "")["access_token"]
        assert jwt_parts(fresh)[0]["kid"] != active
        assert jwt_parts(fresh)[0]["kid"] in kids(any_server)
        assert introspect(http, fresh, record.client_id, secret or "")["active"] is True
    assert sorted(key_status(any_server).values()) == ["active", "next", "revoked"]


def test_revoking_a_retired_key(any_server: LiveServer) -> None:
    record, secret = any_server.create_client(scopes=["api.read"])
    with any_server.client() as http:
        old_token = get_token(http, record.client_id, secret or "")["access_token"]
        result = any_server.call(lambda rt: rotate_keys(rt))
        new_token = get_token(http, record.client_id, secret or "")["access_token"]
        any_server.call(lambda rt: revoke_key(rt, result["retired"]))
        assert introspect(http, old_token, record.client_id, secret or "") == INACTIVE
        assert introspect(http, new_token, record.client_id, secret or "")["active"] is True
        assert result["retired"] not in kids(any_server)
        assert jwt_parts(get_token(http, record.client_id, secret or "")["access_token"])[0]["kid"] == result["active"]


def test_key_revocation_reaches_a_second_instance_within_a_second(
        server_pair: tuple[LiveServer, LiveServer]) -> None:
    first, second = server_pair
    record, secret = first.create_client(scopes=["api.read"])
    active = next(kid for kid, s in key_status(first).items() if s == "active")
    with first.client() as http_a, second.client() as http_b:
        token = get_token(http_b, record.client_id, secret or "")["access_token"]
        assert jwt_parts(token)[0]["kid"] == active
        assert introspect(http_b, token, record.client_id, secret or "")["active"] is True
        first.call(lambda rt: revoke_key(rt, active))
        assert introspect(http_a, token, record.client_id, secret or "") == INACTIVE
        eventually(lambda: introspect(http_b, token, record.client_id, secret or "") == INACTIVE)
        eventually(lambda: active not in kids(second))
        # The second instance signs with a valid key again, which the first instance accepts.
        fresh = get_token(http_b, record.client_id, secret or "")["access_token"]
        assert jwt_parts(fresh)[0]["kid"] != active
        assert introspect(http_a, fresh, record.client_id, secret or "")["active"] is True


def test_rotation_reaches_a_second_instance(server_pair: tuple[LiveServer, LiveServer]) -> None:
    first, second = server_pair
    record, secret = first.create_client(scopes=["api.read"])
    result = first.call(lambda rt: rotate_keys(rt))
    with second.client() as http_b, first.client() as http_a:
        eventually(lambda: result["next"] in kids(second))
        token = get_token(http_b, record.client_id, secret or "")["access_token"]
        assert jwt_parts(token)[0]["kid"] == result["active"]
        assert introspect(http_a, token, record.client_id, secret or "")["active"] is True


def test_private_keys_are_encrypted_at_rest(any_server: LiveServer) -> None:
    async def rows(rt: Any) -> list[SigningKey]:
        async with rt.db.session() as session:
            return list((await session.execute(select(SigningKey))).scalars())

    stored = any_server.call(rows)
    assert len(stored) == 2
    ring = any_server.runtime.keyring
    for row in stored:
        material = ring.keys[row.kid]
        assert material.private is not None
        pem = material.private_pem()
        der = material.private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption())
        blob = bytes(row.private_key_enc)
        assert b"PRIVATE KEY" not in blob
        assert pem not in blob and der not in blob
        body = b"".join(pem.splitlines()[1:-1])  # the PEM's base64 body
        assert body[:32] not in blob
        private_value = material.private.private_numbers().private_value.to_bytes(32, "big")  # type: ignore[union-attr]
        assert private_value not in blob
        # And the sealed value really is the key (decryptable with the master key, bound to its kid).
        assert any_server.runtime.master.unseal(blob, row.kid.encode()) == pem
        assert "d" not in row.public_jwk


@pytest.fixture
def redis_pair(postgres_url: str, redis_url: str) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two instances on PostgreSQL + Redis whose database poll is too slow to matter: whatever reaches the
    second instance within a second came through the Redis fan-out."""
    slow = {"redis_url": redis_url, "revocation_poll_interval": 60}
    with LiveServer(make_settings(postgres_url, **slow)) as first, \
            LiveServer(make_settings(postgres_url, **slow)) as second:
        time.sleep(0.2)  # let both subscriptions start
        yield first, second


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.parametrize("commit_delay", [0.0, 0.3])
def test_key_rotation_and_revocation_fan_out_through_redis(
        redis_pair: tuple[LiveServer, LiveServer], commit_delay: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a slow commit, a message sent before the commit would make the other instance reload the old
    key table and keep it: the fan-out must wait for the commit."""
    changed = RevocationFeed.changed

    async def slow_commit(self: RevocationFeed, session: Any, what: str) -> None:
        await changed(self, session, what)
        if session is not None:
            await asyncio.sleep(commit_delay)

    monkeypatch.setattr(RevocationFeed, "changed", slow_commit)
    first, second = redis_pair
    record, secret = first.create_client(scopes=["api.read"])
    with first.client() as http_a, second.client() as http_b:
        before = get_token(http_b, record.client_id, secret or "")["access_token"]
        result = first.call(lambda rt: rotate_keys(rt))
        eventually(lambda: result["next"] in kids(second))
        eventually(lambda: jwt_parts(get_token(http_b, record.client_id, secret or "")["access_token"])[0]["kid"]
                   == result["active"])
        assert introspect(http_b, before, record.client_id, secret or "")["active"] is True

        first.call(lambda rt: revoke_key(rt, result["retired"]))
        eventually(lambda: introspect(http_b, before, record.client_id, secret or "") == INACTIVE)
        eventually(lambda: result["retired"] not in kids(second))
        fresh = get_token(http_b, record.client_id, secret or "")["access_token"]
        assert introspect(http_a, fresh, record.client_id, secret or "")["active"] is True


def test_revoked_key_is_refused_even_if_an_instance_cannot_reload_its_keys(
        server_pair: tuple[LiveServer, LiveServer], monkeypatch: pytest.MonkeyPatch) -> None:
    """The revocation entry itself kills the key's tokens; the key-ring reload is not on that path."""
    first, second = server_pair
    record, secret = first.create_client(scopes=["api.read"])
    active = next(kid for kid, s in key_status(first).items() if s == "active")
    real_load = signing_keys.load_keyring

    async def failing_on_second(rt: Any) -> Any:
        if rt is second.runtime:
            raise ConnectionResetError("database connection lost")
        return await real_load(rt)

    monkeypatch.setattr(signing_keys, "load_keyring", failing_on_second)
    with second.client() as http_b:
        token = get_token(http_b, record.client_id, secret or "")["access_token"]
        first.call(lambda rt: revoke_key(rt, active))
        eventually(lambda: introspect(http_b, token, record.client_id, secret or "") == INACTIVE)
        assert second.runtime.keyring.active is not None and second.runtime.keyring.active.kid == active
        # It does not hand out tokens signed by the revoked key: 503 until it can load the new keys.
        resp = http_b.post("/oauth/token", data={"grant_type": "client_credentials"},
                           auth=(record.client_id, secret or ""))
        assert resp.status_code == 503, resp.text
        assert resp.headers["retry-after"]
        monkeypatch.setattr(signing_keys, "load_keyring", real_load)
        fresh = get_token(http_b, record.client_id, secret or "")["access_token"]
        assert jwt_parts(fresh)[0]["kid"] != active
        assert introspect(http_b, fresh, record.client_id, secret or "")["active"] is True


def test_revoking_the_next_key_publishes_a_new_next_key(any_server: LiveServer) -> None:
    """Rotation must always promote a key relying parties have already seen in the JWKS."""
    status = key_status(any_server)
    active = next(kid for kid, s in status.items() if s == "active")
    nxt = next(kid for kid, s in status.items() if s == "next")
    any_server.call(lambda rt: revoke_key(rt, nxt))
    after = key_status(any_server)
    assert after[nxt] == "revoked" and after[active] == "active"
    replacement = [kid for kid, s in after.items() if s == "next"]
    assert len(replacement) == 1
    published_before_rotation = kids(any_server)
    assert set(published_before_rotation) == {active, replacement[0]}
    result = any_server.call(lambda rt: rotate_keys(rt))
    assert result["active"] == replacement[0]
    assert result["active"] in published_before_rotation


def test_concurrent_rotations_leave_one_active_and_one_next_key(any_server: LiveServer) -> None:
    """Two operators (or a cron job and an operator) rotating at the same moment: they take turns."""
    async def both(rt: Any) -> list[dict[str, Any]]:
        return list(await asyncio.gather(rotate_keys(rt), rotate_keys(rt), rotate_keys(rt)))

    results = any_server.call(both)
    statuses = sorted(key_status(any_server).values())
    assert statuses.count("active") == 1 and statuses.count("next") == 1
    assert statuses.count("retired") == 3
    # each rotation promoted the key the previous one had published
    assert len({r["active"] for r in results}) == 3
