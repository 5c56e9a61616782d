"""One verifier for every access token we issue, shared by introspection and the guard.

JWT: signature with the key named by ``kid`` (algorithm pinned per key), then claims with the injected
clock, then the in-memory revocation view (jti deny list, session, client/user cut-off from the jti's
UUIDv7 timestamp). Opaque: keyed-hash lookup, then the same revocation checks.

A resource server introspects the same token again and again during its lifetime. The signature and header
of a JWT are facts about its bytes, so they are checked once per token and remembered (by a digest of the
token) for ``SIGNATURE_MEMO_SIZE`` tokens; everything that can change — expiry against the clock, the key
being revoked or dropped, the jti/session/cut-off revocations — is checked on every call.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from tokensmith.ids import uuid7_ms
from tokensmith.jose.tokens import JwtVerificationError, validate_claims, verify_jwt
from tokensmith.storage.models import Token


@dataclass(frozen=True)
class TokenInfo:
    """An active token's claims, as introspection reports them."""

    claims: dict[str, Any]
    token_type: str = "access_token"
    format: str = "jwt"
    row_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tenant(self) -> str | None:
        value = self.claims.get("tenant")
        return value if isinstance(value, str) else None

    @property
    def client_id(self) -> str | None:
        value = self.claims.get("client_id")
        return value if isinstance(value, str) else None


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


SIGNATURE_MEMO_SIZE = 4096


class TokenVerifier:
    def __init__(self, runtime: Any) -> None:
        self._rt = runtime
        # blake2b-128 of a JWT whose signature and header verified -> (its claims, the key's kid)
        self._verified: dict[bytes, tuple[dict[str, Any], str]] = {}

    def _revoked(self, claims: dict[str, Any]) -> str | None:
        feed = self._rt.revocations
        jti = claims.get("jti")
        if feed.is_jti_revoked(jti):
            return "jti revoked"
        if feed.is_sid_revoked(claims.get("sid")):
            return "session revoked"
        if self._rt.tenants.is_disabled(claims.get("tenant")):
            return "tenant disabled"
        issued_ms = uuid7_ms(jti) if isinstance(jti, str) else None
        if issued_ms is None:
            iat = claims.get("iat")
            issued_ms = int(iat * 1000) if isinstance(iat, int | float) else None
        for kind, claim in (("client", "client_id"), ("user", "uid"), ("apikey", "api_key_id"),
                            ("tenant", "tenant")):
            if feed.issued_before_cutoff(kind, claims.get(claim), issued_ms):
                return f"{kind} cut off"
        return None

    async def verify_access_token(self, token: str) -> tuple[TokenInfo | None, str]:
        """(info, reason): info is None when the token is not active; reason is for logs only."""
        if looks_like_jwt(token):
            return self._verify_jwt(token)
        return await self._verify_opaque(token)

    def _verify_jwt(self, token: str) -> tuple[TokenInfo | None, str]:
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
        reason = self._revoked(claims)
        if reason:
            return None, reason
        return TokenInfo(claims=dict(claims), format="jwt"), "ok"

    async def _verify_opaque(self, token: str) -> tuple[TokenInfo | None, str]:
        if len(token) > 512:
            return None, "too long"
        digest = self._rt.master.secret_hash(token)
        async with self._rt.db.session() as session:
            row = (await session.execute(select(Token).where(Token.token_hash == digest))).scalar()
        if row is None or row.kind != "access":
            return None, "unknown"
        if row.revoked_at is not None:
            return None, "revoked"
        now = self._rt.clock.now()
        if row.expires_at is not None and row.expires_at.timestamp() <= now:
            return None, "expired"
        claims = dict(row.claims)
        reason = self._revoked(claims)
        if reason:
            return None, reason
        return TokenInfo(claims=claims, format="opaque", row_id=row.id), "ok"
