"""One verifier for every access token we issue, shared by introspection and the guard.

JWT: signature with the key named by ``kid`` (algorithm pinned per key), then claims with the injected
clock, then the in-memory revocation view (jti deny list, session, client/user cut-off from the jti's
UUIDv7 timestamp). Opaque: keyed-hash lookup, then the same revocation checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from tokensmith.ids import uuid7_ms
from tokensmith.jose.tokens import JwtVerificationError, verify_jwt
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


class TokenVerifier:
    def __init__(self, runtime: Any) -> None:
        self._rt = runtime

    def _revoked(self, claims: dict[str, Any]) -> str | None:
        feed = self._rt.revocations
        jti = claims.get("jti")
        if feed.is_jti_revoked(jti):
            return "jti revoked"
        if feed.is_sid_revoked(claims.get("sid")):
            return "session revoked"
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
        try:
            # No leeway on exp: this is the issuer judging the exp it wrote (opaque tokens neither), so
            # introspection agrees with expires_in. The leeway still covers iat/nbf across instances.
            claims, key = verify_jwt(token, self._rt.keyring, now=self._rt.clock.now(),
                                     leeway=self._rt.settings.jwt_leeway, issuer=self._rt.settings.issuer,
                                     exp_leeway=0)
        except JwtVerificationError as exc:
            return None, exc.reason
        if self._rt.revocations.is_kid_revoked(key.kid):  # even if the key ring has not been reloaded yet
            return None, "signing key revoked"
        reason = self._revoked(claims)
        if reason:
            return None, reason
        return TokenInfo(claims=claims, format="jwt"), "ok"

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
