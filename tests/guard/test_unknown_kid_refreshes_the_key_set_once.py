"""Keys the guard has not seen: a token signed by a new key makes it fetch the key set once (through
discovery, never from the token); made-up kids cause no further fetch within the refresh interval; a key
rotation announced on the revocation feed is fetched without waiting for a token."""

from __future__ import annotations

from dataclasses import replace

from tests.guard.helpers import cc_client, eventually, guard_settings, resource_server_client, token_of
from tests.support import LiveServer
from tokensmith.clock import ManualClock
from tokensmith.errors import InvalidToken
from tokensmith.guard import Guard
from tokensmith.jose.keyring import generate_signing_key
from tokensmith.jose.tokens import sign_jwt
from tokensmith.signing_keys import rotate_keys


async def test_one_fetch_for_a_new_key_and_none_for_made_up_kids(service: LiveServer) -> None:
    clock = ManualClock()
    record, secret = cc_client(service, ["Patient.read"])
    async with Guard(guard_settings(service, None, jwks_refresh_interval=30), clock=clock) as guard:
        assert guard.jwks.fetches == 1
        service.call(lambda rt: rotate_keys(rt))
        service.call(lambda rt: rotate_keys(rt))  # the active key is now one published after the guard started
        token = token_of(service, record.client_id, secret)
        assert service.runtime.keyring.active.kid not in guard.jwks.ring.keys  # type: ignore[union-attr]
        assert (await guard.authenticate(f"Bearer {token}", None)).client_id == record.client_id
        assert guard.jwks.fetches == 2
        claims = {"iss": service.settings.issuer, "aud": service.settings.issuer, "exp": clock.now() + 60,
                  "sub": "x", "scope": "Patient.read"}
        for n in range(20):
            forged = sign_jwt(claims, replace(generate_signing_key("ES256", "active"), kid=f"made-up-{n}"))
            try:
                await guard.authenticate(f"Bearer {forged}", None)
                raise AssertionError("a made-up kid was accepted")
            except InvalidToken as exc:
                assert exc.debug == "unknown or revoked kid"
        assert guard.jwks.fetches == 2  # rate-limited: no fetch within the interval
        clock.advance(31)
        forged = sign_jwt(claims, replace(generate_signing_key("ES256", "active"), kid="made-up-later"))
        try:
            await guard.authenticate(f"Bearer {forged}", None)
        except InvalidToken:
            pass
        assert guard.jwks.fetches == 3  # the interval passed: one more


async def test_a_rotation_on_the_feed_reloads_the_keys_without_a_token(service: LiveServer) -> None:
    async with Guard(guard_settings(service, resource_server_client(service), feed_wait=1)) as guard:
        before = guard.jwks.fetches
        result = service.call(lambda rt: rotate_keys(rt))
        await eventually(lambda: result["next"] in guard.jwks.ring.keys, 3)
        assert guard.jwks.fetches == before + 1
