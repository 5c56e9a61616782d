"""Tokens the guard must refuse with 401 ``invalid_token``: for another audience, forged, ``alg: none``,
HS256 keyed with the public key (algorithm confusion), wrong ``typ`` or issuer, expired, not yet valid — and a
verified token stops being accepted from the cache once its ``exp`` has passed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest

from tests.guard.helpers import bearer, cc_token, guard_settings, resource_server_client
from tests.support import LiveServer
from tokensmith.clock import ManualClock
from tokensmith.errors import InvalidToken
from tokensmith.guard import Guard
from tokensmith.jose.keyring import generate_signing_key
from tokensmith.jose.tokens import sign_jwt


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _ = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return json.loads(base64.urlsafe_b64decode(pad(header))), json.loads(base64.urlsafe_b64decode(pad(payload)))


def _unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return ".".join([_b64(json.dumps(header).encode()), _b64(json.dumps(claims).encode()), _b64(signature)])


async def _refused(guard: Guard, token: str) -> InvalidToken:
    with pytest.raises(InvalidToken) as caught:
        await guard.authenticate(f"Bearer {token}", None)
    assert caught.value.status == 401
    assert caught.value.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    return caught.value


async def test_a_token_for_another_audience_is_refused(service: LiveServer) -> None:
    theirs = cc_token(service, ["Patient.read"], resource="https://other-api.example")
    assert _parts(theirs)[1]["aud"] == "https://other-api.example"
    ours = cc_token(service, ["Patient.read"])
    async with Guard(guard_settings(service, None)) as guard:
        assert (await _refused(guard, theirs)).debug == "audience"
        assert (await guard.authenticate(f"Bearer {ours}", None)).scopes == ("Patient.read",)
    # and a guard configured for that other API accepts it, but not ours
    async with Guard(guard_settings(service, None, audiences=("https://other-api.example",))) as other:
        assert (await other.authenticate(f"Bearer {theirs}", None)).client_id
        await _refused(other, ours)


async def test_forged_none_and_hs256_tokens_are_refused(service: LiveServer) -> None:
    real = cc_token(service, ["Patient.read"])
    header, claims = _parts(real)
    claims["scope"] = "Patient.read Patient.write"
    jwk = service.runtime.keyring.active.public_jwk  # type: ignore[union-attr]
    head, _, signature = real.split(".")
    tampered = f"{head}.{_b64(json.dumps(claims).encode())}.{signature}"
    hs_header = {**header, "alg": "HS256"}
    hs_input = f"{_b64(json.dumps(hs_header).encode())}.{_b64(json.dumps(claims).encode())}"
    hs256 = hs_input + "." + _b64(hmac.new(json.dumps(jwk).encode(), hs_input.encode(), hashlib.sha256).digest())
    stranger = generate_signing_key("ES256", "active")
    foreign = sign_jwt(claims, _with_kid(stranger, header["kid"]))
    async with Guard(guard_settings(service, None)) as guard:
        await _refused(guard, tampered)  # claims changed, old signature
        await _refused(guard, _unsigned({**header, "alg": "none"}, claims))
        await _refused(guard, _unsigned({"alg": "none", "typ": "at+jwt"}, claims))
        assert "alg" in str((await _refused(guard, hs256)).debug)
        await _refused(guard, foreign)  # right kid, someone else's key
        assert guard.jwks.fetches == 1  # none of them made it fetch the key set again


def _with_kid(key: Any, kid: str) -> Any:
    from dataclasses import replace

    return replace(key, kid=kid)


async def test_wrong_typ_issuer_expired_and_future_tokens_are_refused(service: LiveServer) -> None:
    key = service.runtime.keyring.active
    now = int(time.time())
    base = {"iss": service.settings.issuer, "aud": service.settings.issuer, "sub": "c", "client_id": "c",
            "scope": "Patient.read", "iat": now, "exp": now + 300, "jti": "0190a4e4-0000-7000-8000-000000000000",
            "tenant": service.tenant_id}
    async with Guard(guard_settings(service, None, leeway=5)) as guard:
        assert (await guard.authenticate(f"Bearer {sign_jwt(base, key)}", None)).subject == "c"
        assert (await _refused(guard, sign_jwt(base, key, typ="JWT"))).debug is not None
        await _refused(guard, sign_jwt({**base, "iss": "https://evil.example"}, key))
        await _refused(guard, sign_jwt({**base, "exp": now - 10}, key))
        await _refused(guard, sign_jwt({**base, "nbf": now + 60}, key))
        await _refused(guard, sign_jwt({k: v for k, v in base.items() if k != "aud"}, key))
        # within the leeway: accepted
        assert (await guard.authenticate(f"Bearer {sign_jwt({**base, 'nbf': now + 2}, key)}", None)).subject == "c"


async def test_a_cached_token_is_refused_once_it_expires(service: LiveServer) -> None:
    clock = ManualClock()
    token = cc_token(service, ["Patient.read"])
    exp = _parts(token)[1]["exp"]
    async with Guard(guard_settings(service, resource_server_client(service), leeway=5), clock=clock) as guard:
        first = await guard.authenticate(f"Bearer {token}", None)
        assert await guard.authenticate(f"Bearer {token}", None) is first  # the cache: the same principal
        clock.advance(exp + 4 - clock.now())  # past exp, within the leeway
        guard.feed.last_ok = clock.now()  # type: ignore[union-attr]  # the feed is fresh: only exp is judged
        assert await guard.authenticate(f"Bearer {token}", None) is first
        clock.advance(2)
        guard.feed.last_ok = clock.now()  # type: ignore[union-attr]
        assert (await _refused(guard, token)).description == "the access token is expired or revoked"
    assert bearer(token)  # the token itself was never altered
