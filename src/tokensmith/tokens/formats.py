"""Issuing access tokens.

* ``jwt``: RFC 9068 — header ``typ: at+jwt``; claims ``iss sub aud exp iat jti client_id scope``.
  ``jti`` is a UUIDv7, so its millisecond timestamp lets revocations cut off "everything issued before
  T". Nothing is written to the database per token.
* ``opaque``: a 256-bit random reference token; only its keyed hash is stored, with the claims it stands
  for; revocable at once, checked by introspection.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tokensmith.errors import ServiceUnavailable
from tokensmith.ids import new_row_id, random_token, uuid7
from tokensmith.jose.tokens import sign_jwt
from tokensmith.storage.batching import Batcher
from tokensmith.storage.models import Token

if TYPE_CHECKING:
    from tokensmith.runtime import Runtime


@dataclass(frozen=True)
class IssuedToken:
    value: str
    expires_in: int
    expires_at: float
    jti: str


class TokenIssuer:
    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime
        self._opaque_rows: Batcher[dict[str, Any], None] = Batcher(self._insert_rows, max_size=256,
                                                                   max_inflight=1)

    async def issue(
        self,
        *,
        fmt: str,
        subject: str,
        client_id: str | None,
        tenant_id: str,
        scopes: list[str],
        ttl: int,
        audience: str | None = None,
        session_id: str | None = None,
        user_id: str | None = None,
        extra: dict[str, Any] | None = None,
        conn: Any = None,
    ) -> IssuedToken:
        """``conn``: an open connection to store an opaque token on (one pool checkout per request for
        callers that already hold one); by default the token is stored in a transaction of its own."""
        now = self._rt.clock.now()
        iat = int(now)
        exp = iat + ttl
        jti = uuid7(int(now * 1000))
        claims: dict[str, Any] = {
            "iss": self._rt.settings.issuer,
            "sub": subject,
            "aud": audience or self._rt.settings.audience,
            "exp": exp,
            "iat": iat,
            "jti": jti,
        }
        if client_id is not None:
            claims["client_id"] = client_id
        if scopes:
            claims["scope"] = " ".join(scopes)
        if session_id is not None:
            claims["sid"] = session_id
        claims["tenant"] = tenant_id
        if extra:
            claims.update(extra)
        if fmt == "jwt":
            key = self._rt.keyring.active
            if key is not None and self._rt.revocations.is_kid_revoked(key.kid):
                # Revoked on another instance and the key ring reload has not landed (or failed): never
                # sign with it, every token would be dead on arrival.
                await self._rt.reload_keys()
                key = self._rt.keyring.active
                if key is not None and self._rt.revocations.is_kid_revoked(key.kid):
                    key = None
            if key is None:
                raise ServiceUnavailable(self._rt.settings.db_retry_after, "no signing key is loaded",
                                         debug="key ring empty")
            return IssuedToken(sign_jwt(claims, key), ttl, exp, jti)
        value = random_token(32)
        row = dict(
            id=jti, token_hash=self._rt.master.secret_hash(value), kind="access", tenant_id=tenant_id,
            client_id=client_id, user_id=user_id, session_id=session_id, scopes=scopes, claims=claims,
            created_at=datetime.fromtimestamp(now, UTC), expires_at=datetime.fromtimestamp(exp, UTC),
        )
        if conn is not None:
            await conn.execute(Token.__table__.insert(), row)
            return IssuedToken(value, ttl, exp, jti)
        # Group commit: concurrent issuances share one transaction and one multi-row INSERT; each
        # caller still returns only after its row is committed (introspection anywhere finds it).
        await self._opaque_rows.submit(row)
        return IssuedToken(value, ttl, exp, jti)

    async def _insert_rows(self, rows: list[dict[str, Any]]) -> list[None]:
        async with self._rt.db.session() as session:
            await session.execute(Token.__table__.insert(), rows)
        return [None] * len(rows)


def opaque_row_id() -> str:
    return new_row_id()
