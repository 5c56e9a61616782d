"""``jwt`` access tokens — RFC 9068: header ``typ: at+jwt``; claims ``iss sub aud exp iat jti client_id
scope``. ``jti`` is a UUIDv7, so its millisecond timestamp lets revocations cut off "everything issued
before T". Nothing is written to the database per token.

Verification: signature with the key named by ``kid`` (algorithm pinned per key), then claims with the
injected clock, then the revocation view. A resource server introspects the same token again and again
during its lifetime. The signature and header are facts about its bytes, so they are checked once per token
and remembered (by a digest of the token) for ``SIGNATURE_MEMO_SIZE`` tokens; everything that can change —
expiry against the clock, the key being revoked or dropped, the revocations — is checked on every call.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from tokensmith.errors import ServiceUnavailable
from tokensmith.jose.tokens import JwtVerificationError, sign_jwt, validate_claims, verify_jwt
from tokensmith.tokens.registry import Issuance, TokenInfo
from tokensmith.tokens.revoked import revoked_reason

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime

SIGNATURE_MEMO_SIZE = 4096


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


class JwtFormat:
    name = "jwt"

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        # blake2b-128 of a JWT whose signature and header verified -> (its claims, the key's kid)
        self._verified: dict[bytes, tuple[dict[str, Any], str]] = {}

    def recognises(self, token: str) -> bool:
        return token.count(".") == 2

    async def issue(self, claims: dict[str, Any], issuance: Issuance) -> str:
        rt = self._rt
        key = rt.keyring.active
        if key is not None and rt.revocations.is_kid_revoked(key.kid):
            # Revoked on another instance and the key ring reload has not landed (or failed): never
            # sign with it, every token would be dead on arrival.
            await rt.reload_keys()
            key = rt.keyring.active
            if key is not None and rt.revocations.is_kid_revoked(key.kid):
                key = None
        if key is None:
            raise ServiceUnavailable(rt.settings.db_retry_after, "no signing key is loaded", debug="key ring empty")
        return sign_jwt(claims, key)

    async def verify(self, token: str) -> tuple[TokenInfo | None, str]:
        rt = self._rt
        now = rt.clock.now()
        digest = hashlib.blake2b(token.encode(), digest_size=16).digest()
        try:
            memo = self._verified.get(digest)
            if memo is not None and rt.keyring.for_verification(memo[1]) is not None:
                claims, kid = memo
                validate_claims(claims, now=now, leeway=rt.settings.jwt_leeway, issuer=rt.settings.issuer,
                                audience=None, exp_leeway=0)
            else:
                # No leeway on exp: this is the issuer judging the exp it wrote (opaque tokens neither), so
                # introspection agrees with expires_in. The leeway still covers iat/nbf across instances.
                claims, key = verify_jwt(token, rt.keyring, now=now, leeway=rt.settings.jwt_leeway,
                                         issuer=rt.settings.issuer, exp_leeway=0)
                kid = key.kid
                if len(self._verified) >= SIGNATURE_MEMO_SIZE:
                    self._verified.clear()
                self._verified[digest] = (claims, kid)
        except JwtVerificationError as exc:
            return None, exc.reason
        if rt.revocations.is_kid_revoked(kid):  # even if the key ring has not been reloaded yet
            return None, "signing key revoked"
        reason = revoked_reason(rt.revocations, claims, rt.tenants)
        if reason:
            return None, reason
        return TokenInfo(claims=dict(claims), format="jwt"), "ok"

    async def revoke(self, session: Any, info: TokenInfo, now: float) -> None:
        """Nothing of its own: a JWT is stopped by the jti deny list alone."""
